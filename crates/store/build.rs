//! The migrations are embedded by refinery's macro at compile time; cargo
//! does not see a new or changed file in migrations/ unless told, and the
//! binaries would silently carry the old set.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
