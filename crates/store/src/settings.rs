//! Where the database is and how to reach it, from configuration: either a
//! `DATABASE_URL`, or the JSON of a Secrets Manager secret as RDS writes it
//! (fetched once per cold start by the runtime crate).

use serde::Deserialize;
use std::str::FromStr;

/// How TLS is used towards the database, after libpq's `PGSSLMODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP (loopback, tests).
    #[default]
    Disable,
    /// TLS when the server offers it, plain otherwise; certificate not checked.
    Prefer,
    /// TLS always; the certificate is not checked (libpq's `require`).
    Require,
    /// TLS always, the certificate checked against `PGSSLROOTCERT` (or the
    /// public web roots) and the host name (libpq's `verify-ca` is treated
    /// as this stricter mode).
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = SettingsError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "" | "disable" => Ok(SslMode::Disable),
            "allow" | "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" | "verify-full" => Ok(SslMode::VerifyFull),
            other => {
                Err(SettingsError(format!("PGSSLMODE {other:?} is not one of disable, prefer, require, verify-full")))
            }
        }
    }
}

/// The database configuration cannot be read (what is wrong, never a
/// password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("database settings: {0}")]
pub struct SettingsError(pub String);

/// Everything needed to open connections.
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// Host, port, user, password, database and application name.
    pub config: tokio_postgres::Config,
    /// How connections use TLS (`PGSSLMODE`).
    pub ssl_mode: SslMode,
    /// PEM bundle of trusted roots for `verify-full` (e.g. the RDS CA bundle).
    pub root_cert_path: Option<String>,
    /// Connections kept per process. A Lambda sandbox runs one invocation at
    /// a time, so a few are plenty and the database's limit is spared.
    pub pool_size: usize,
    statement_timeout: std::time::Duration,
    idle_session_timeout: std::time::Duration,
}

/// The secret RDS / Aurora writes for a database user.
#[derive(Debug, Deserialize)]
struct RdsSecret {
    host: String,
    #[serde(default, deserialize_with = "port_number_or_string")]
    port: Option<u16>,
    username: String,
    password: String,
    #[serde(default)]
    dbname: Option<String>,
}

fn port_number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Port {
        Number(u16),
        Text(String),
    }
    match Option::<Port>::deserialize(d)? {
        None => Ok(None),
        Some(Port::Number(n)) => Ok(Some(n)),
        Some(Port::Text(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

pub(crate) const DEFAULT_POOL_SIZE: usize = 4;

/// The server-side bound on one statement, unless `DB_STATEMENT_TIMEOUT_MS` says otherwise.
pub const DEFAULT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the server keeps an idle session, unless `DB_IDLE_SESSION_TIMEOUT_MS` says otherwise.
pub const DEFAULT_IDLE_SESSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

impl DbSettings {
    /// From a `postgres://user:password@host:port/db` URL (or a libpq
    /// key=value string).
    pub fn from_url(url: &str, ssl_mode: SslMode) -> Result<Self, SettingsError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| SettingsError(format!("DATABASE_URL is not a valid connection string: {e}")))?;
        config.application_name("torium");
        Ok(Self::new(config, ssl_mode))
    }

    /// From the JSON of an RDS-style secret (`host`, `port`, `username`,
    /// `password`, `dbname`), at another host than the secret's (an RDS
    /// Proxy in front of the database) when `host` is given.
    pub fn from_rds_secret_at(json: &str, ssl_mode: SslMode, host: Option<&str>) -> Result<Self, SettingsError> {
        let secret: RdsSecret = serde_json::from_str(json)
            .map_err(|e| SettingsError(format!("the database secret is not RDS-style JSON: {e}")))?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(host.unwrap_or(&secret.host))
            .port(secret.port.unwrap_or(5432))
            .user(&secret.username)
            .password(secret.password)
            .dbname(secret.dbname.as_deref().unwrap_or("postgres"))
            .application_name("torium");
        Ok(Self::new(config, ssl_mode))
    }

    fn new(mut config: tokio_postgres::Config, ssl_mode: SslMode) -> Self {
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        });
        config.connect_timeout(std::time::Duration::from_secs(5));
        // A dead peer (a failed-over instance, a cut NAT mapping) is noticed
        // in under a minute instead of the kernel's two hours.
        config.keepalives(true);
        config.keepalives_idle(std::time::Duration::from_secs(20));
        config.keepalives_interval(std::time::Duration::from_secs(5));
        config.keepalives_retries(3);
        let mut settings = DbSettings {
            config,
            ssl_mode,
            root_cert_path: None,
            pool_size: DEFAULT_POOL_SIZE,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            idle_session_timeout: DEFAULT_IDLE_SESSION_TIMEOUT,
        };
        settings.apply_server_options();
        settings
    }

    /// The server cancels any statement running longer (and the lock waits
    /// inside it): no statement outlives the invocation that sent it.
    pub fn set_statement_timeout(&mut self, timeout: std::time::Duration) {
        self.statement_timeout = timeout;
        self.apply_server_options();
    }

    /// The server closes a session idle this long (zero: never), so the
    /// connections of a frozen or retired Lambda sandbox are released.
    pub fn set_idle_session_timeout(&mut self, timeout: std::time::Duration) {
        self.idle_session_timeout = timeout;
        self.apply_server_options();
    }

    fn apply_server_options(&mut self) {
        self.config.options(format!(
            "-c statement_timeout={} -c idle_session_timeout={}",
            self.statement_timeout.as_millis(),
            self.idle_session_timeout.as_millis()
        ));
    }
}

/// The secret at its own host: what the tests read.
#[cfg(test)]
impl DbSettings {
    fn from_rds_secret(json: &str, ssl_mode: SslMode) -> Result<Self, SettingsError> {
        Self::from_rds_secret_at(json, ssl_mode, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_secret_with_numeric_or_text_port() {
        let json = r#"{"username":"app","password":"p@ss","engine":"postgres","host":"db.example","port":5433,"dbname":"torium"}"#;
        let s = DbSettings::from_rds_secret(json, SslMode::Require).unwrap();
        assert_eq!(s.config.get_ports(), &[5433]);
        assert_eq!(s.config.get_user(), Some("app"));
        assert_eq!(s.config.get_dbname(), Some("torium"));
        assert_eq!(s.config.get_password(), Some(&b"p@ss"[..]));

        let json = r#"{"username":"app","password":"x","host":"db.example","port":"6000"}"#;
        let s = DbSettings::from_rds_secret(json, SslMode::Disable).unwrap();
        assert_eq!(s.config.get_ports(), &[6000]);
        assert_eq!(s.config.get_dbname(), Some("postgres"));

        // Through an RDS Proxy: the secret's credentials, the proxy's host only.
        let s = DbSettings::from_rds_secret_at(
            json,
            SslMode::Require,
            Some("torium-db.proxy-x.eu-central-1.rds.amazonaws.com"),
        )
        .unwrap();
        let hosts: Vec<String> = s.config.get_hosts().iter().map(|h| format!("{h:?}")).collect();
        assert_eq!(hosts, [r#"Tcp("torium-db.proxy-x.eu-central-1.rds.amazonaws.com")"#]);
        assert_eq!(s.config.get_user(), Some("app"));
    }

    #[test]
    fn bad_secret_and_url_and_mode_are_clear_errors() {
        let err = DbSettings::from_rds_secret(r#"{"host":"x"}"#, SslMode::Disable).unwrap_err();
        assert!(err.to_string().contains("not RDS-style JSON"), "{err}");
        let err = DbSettings::from_url("postgres://a:b@h:notaport/db", SslMode::Disable).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
        assert!("verify-everything".parse::<SslMode>().is_err());
        assert_eq!("require".parse::<SslMode>(), Ok(SslMode::Require));
        assert_eq!("".parse::<SslMode>(), Ok(SslMode::Disable));
    }
}
