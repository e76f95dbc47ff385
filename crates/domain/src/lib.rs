//! Torium's domain: the people, groups and events the suite reminds about,
//! and the vocabulary the rest of the suite shares. Pure: no I/O, so every
//! rule here is unit-tested without a database or AWS.

mod model;
mod money;

pub use model::*;
pub use money::{BadAmount, Pln};
