//! `CONFIG_SOURCE=aws`: secrets from AWS Secrets Manager and parameters from SSM
//! Parameter Store, merged over the environment, then read by [`Config::from_source`].
//!
//! Settings of the loader itself, read from the environment (defaults in brackets):
//!
//! | variable | meaning |
//! |---|---|
//! | `AWS_DB_SECRET_ID` | secret holding `{username, password, host, port, dbname}` [`skillreel/database`] |
//! | `AWS_JWT_SECRET_ID` | secret holding the JWT key, plain or `{"jwt_secret": "…"}` [`skillreel/jwt`] |
//! | `AWS_SSM_PREFIX` | parameter hierarchy read recursively [`/skillreel/`] |
//! | `DATABASE_SSLMODE` | `sslmode` of the built `DATABASE_URL` (env or SSM) [`verify-full`] |
//! | `DATABASE_SSLROOTCERT` | PEM file of the CAs the database's certificate must chain to (the RDS bundle), `sslrootcert` of the built URL (env or SSM) [unset: the public roots] |
//! | `ALLOW_PLAINTEXT_BACKENDS` | `true` allows `sslmode` `disable`/`allow`/`prefer` and `redis://` (see [`super::backends`]) [`false`] |
//! | `AWS_REGION` | region of both clients [aws-config's chain: env, profile, EC2 metadata] |
//! | `AWS_ENDPOINT_URL` | endpoint of both clients (an emulator) [aws-config's own resolution] |
//!
//! The database secret becomes `DATABASE_URL =
//! postgres://<user>:<password>@<host>:<port>/<dbname>?sslmode=<mode>[&sslrootcert=<file>]`
//! with user, password, database name and file percent-encoded; `port` may be a number or a string and defaults to
//! 5432. The JWT secret becomes `JWT_SECRET`, under the rules of [`super::secrets`]: at
//! least 32 bytes, never a value published in the repository.
//!
//! Every parameter under the prefix, at any depth, sets the variable named by its
//! **last path segment**, upper-cased, with `-` and `.` read as `_`:
//! `/skillreel/s3_bucket` → `S3_BUCKET`, `/skillreel/limits/upload-max-bytes` →
//! `UPLOAD_MAX_BYTES`. Two parameters mapping to the same variable are an error.
//! `redis_url` and `s3_bucket` are required; any other variable of [`super`] may be set
//! this way (limits, `presign_expiry_secs`, `worker_concurrency`, …). SecureString
//! parameters are decrypted.
//!
//! Precedence, highest first: the secrets, the SSM parameters, the environment, the
//! defaults of [`Config::from_source`]. `STORAGE_BACKEND` becomes `s3` unless one of
//! them sets it, and `AWS_REGION` the region the clients resolved.
//!
//! Failures stop start-up: a missing or unreadable secret is [`ConfigError::Secret`], a
//! missing parameter [`ConfigError::Parameter`], both naming what to fix. An unreachable
//! endpoint is tried [`MAX_ATTEMPTS`] times with backoff, under [`OPERATION_TIMEOUT`]
//! in total, before that error. Only names are logged, never values.

use std::{collections::HashMap, time::Duration};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use secrecy::{ExposeSecret, SecretString};

use self::parse::{
    DatabaseSecret, normalize_prefix, parse_jwt_secret, secret_error, variable_name,
};
use super::{Config, ConfigError, EnvSource, Source};

mod parse;

/// Default id of the database secret.
pub const DEFAULT_DB_SECRET_ID: &str = "skillreel/database";
/// Default id of the JWT signing-key secret.
pub const DEFAULT_JWT_SECRET_ID: &str = "skillreel/jwt";
/// Default SSM hierarchy.
pub const DEFAULT_SSM_PREFIX: &str = "/skillreel/";
/// Parameters (last path segment) that must exist under the prefix.
pub const REQUIRED_PARAMETERS: [&str; 2] = ["redis_url", "s3_bucket"];
/// Attempts per AWS call before giving up.
pub const MAX_ATTEMPTS: u32 = 3;
/// Upper bound of one AWS call, retries included, so a bad network fails start-up fast.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(9);

const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Loads the configuration from Secrets Manager and SSM, merged over `env`.
///
/// `env` provides the loader's own settings (see the module docs) and every value AWS
/// does not set.
pub async fn load(env: &dyn Source) -> Result<Config, ConfigError> {
    let db_secret_id = env
        .get("AWS_DB_SECRET_ID")
        .unwrap_or_else(|| DEFAULT_DB_SECRET_ID.to_owned());
    let jwt_secret_id = env
        .get("AWS_JWT_SECRET_ID")
        .unwrap_or_else(|| DEFAULT_JWT_SECRET_ID.to_owned());
    let prefix = normalize_prefix(
        &env.get("AWS_SSM_PREFIX")
            .unwrap_or_else(|| DEFAULT_SSM_PREFIX.to_owned()),
    );

    let sdk = sdk_config(env).await;
    let endpoint = match (sdk.endpoint_url(), sdk.region()) {
        (Some(url), _) => url.to_owned(),
        (None, Some(region)) => format!("the AWS endpoints of {region}"),
        (None, None) => "the AWS endpoints (no region configured)".to_owned(),
    };
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    // Three independent round trips: done concurrently so a cold start waits for one.
    let (db_raw, jwt_raw, mut values) = tokio::try_join!(
        fetch_secret(&secrets, &db_secret_id, &endpoint),
        fetch_secret(&secrets, &jwt_secret_id, &endpoint),
        fetch_parameters(&ssm, &prefix, &endpoint),
    )?;
    for required in REQUIRED_PARAMETERS {
        if !values.contains_key(&required.to_ascii_uppercase()) {
            return Err(ConfigError::Parameter {
                name: format!("{prefix}{required}"),
                reason: "required parameter is missing".to_owned(),
            });
        }
    }

    let setting = |name: &str| values.get(name).cloned().or_else(|| env.get(name));
    let sslmode = setting("DATABASE_SSLMODE").unwrap_or_else(|| "verify-full".to_owned());
    if !SSL_MODES.contains(&sslmode.as_str()) {
        return Err(ConfigError::Invalid {
            name: "DATABASE_SSLMODE".to_owned(),
            reason: format!("expected one of {}, got `{sslmode}`", SSL_MODES.join(", ")),
        });
    }
    let database = DatabaseSecret::parse(&db_secret_id, db_raw.expose_secret())?;
    let jwt = parse_jwt_secret(&jwt_secret_id, jwt_raw.expose_secret())?;
    let root_cert = setting("DATABASE_SSLROOTCERT").filter(|f| !f.trim().is_empty());
    values.insert(
        "DATABASE_URL".to_owned(),
        database.url(&sslmode, root_cert.as_deref()),
    );
    values.insert("JWT_SECRET".to_owned(), jwt.expose_secret().to_owned());
    if !values.contains_key("STORAGE_BACKEND") && env.get("STORAGE_BACKEND").is_none() {
        values.insert("STORAGE_BACKEND".to_owned(), "s3".to_owned());
    }
    // On EC2 the region usually comes from instance metadata, which `from_source`
    // cannot see; hand it the one the clients used so S3 talks to the same region.
    if let (false, Some(region)) = (values.contains_key("AWS_REGION"), sdk.region()) {
        values.insert("AWS_REGION".to_owned(), region.to_string());
    }

    let merged = |name: &str| values.get(name).cloned().or_else(|| env.get(name));
    let config = Config::from_source(&merged)?;
    if !super::backends::plaintext_allowed(&merged)? {
        super::backends::require_encryption(&config)?;
    }
    Ok(config)
}

/// Reads `CONFIG_SOURCE` from `env` (`env`, the default, or `aws`) and loads the
/// configuration from there.
pub async fn load_selected(env: &dyn Source) -> Result<Config, ConfigError> {
    let selected = env
        .get("CONFIG_SOURCE")
        .map(|s| s.trim().to_ascii_lowercase());
    match selected.as_deref() {
        None | Some("env") => Config::from_source(env),
        Some("aws") => load(env).await,
        Some(other) => Err(ConfigError::Invalid {
            name: "CONFIG_SOURCE".to_owned(),
            reason: format!("expected `env` or `aws`, got `{other}`"),
        }),
    }
}

/// Start-up entry point of the binaries: loads `.env`, then [`load_selected`] from the
/// process environment.
pub async fn load_from_environment() -> Result<Config, ConfigError> {
    super::load_dotenv();
    load_selected(&EnvSource).await
}

async fn sdk_config(env: &dyn Source) -> SdkConfig {
    let retry = RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(300))
        .with_max_backoff(Duration::from_secs(2));
    // Secrets Manager and SSM answer in milliseconds; a call that hangs for seconds is
    // a network problem, and start-up should say so rather than wait.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(region) = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
    {
        loader = loader.region(Region::new(region));
    }
    if let Some(url) = env.get("AWS_ENDPOINT_URL") {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

async fn fetch_secret(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    endpoint: &str,
) -> Result<SecretString, ConfigError> {
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|err| {
            let reason = if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception())
            {
                "secret not found".to_owned()
            } else {
                describe(&err, endpoint)
            };
            secret_error(id, reason)
        })?;
    let value = output.secret_string().ok_or_else(|| {
        secret_error(id, "has no SecretString (binary secrets are not supported)")
    })?;
    tracing::info!(secret.id = %id, "read secret");
    Ok(SecretString::from(value))
}

async fn fetch_parameters(
    client: &aws_sdk_ssm::Client,
    prefix: &str,
    endpoint: &str,
) -> Result<HashMap<String, String>, ConfigError> {
    // The API wants the hierarchy without its trailing slash (except the root).
    let path = match prefix.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    let mut pages = client
        .get_parameters_by_path()
        .path(path)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    let mut values = HashMap::new();
    let mut origin: HashMap<String, String> = HashMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| ConfigError::Parameter {
            name: prefix.to_owned(),
            reason: describe(&err, endpoint),
        })?;
        for parameter in page.parameters() {
            let (Some(name), Some(value)) = (parameter.name(), parameter.value()) else {
                continue;
            };
            let variable = variable_name(name).ok_or_else(|| ConfigError::Parameter {
                name: name.to_owned(),
                reason:
                    "its last path segment is not a variable name (letters, digits, `_`, `-`, `.`)"
                        .to_owned(),
            })?;
            if let Some(previous) = origin.insert(variable.clone(), name.to_owned()) {
                return Err(ConfigError::Parameter {
                    name: name.to_owned(),
                    reason: format!("sets {variable} like {previous}; keep only one of them"),
                });
            }
            values.insert(variable, value.to_owned());
        }
    }
    let mut names: Vec<&String> = values.keys().collect();
    names.sort();
    tracing::info!(ssm.prefix = %prefix, variables = ?names, "read SSM parameters");
    Ok(values)
}

/// Why an AWS call failed, without echoing anything the caller sent or received.
fn describe<E>(err: &SdkError<E>, endpoint: &str) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let unreachable = match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(failure) => failure.is_io() || failure.is_timeout(),
        _ => false,
    };
    if unreachable {
        return format!(
            "cannot reach {endpoint} after {MAX_ATTEMPTS} attempts ({}); check the network path, \
             the region and AWS_ENDPOINT_URL",
            DisplayErrorContext(err)
        );
    }
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(err).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn config_source_selects_the_loader() {
        let env_source = |name: &str| match name {
            "CONFIG_SOURCE" => Some("env".to_owned()),
            "JWT_SECRET" => Some("j".repeat(32)),
            _ => None,
        };
        assert_eq!(load_selected(&env_source).await.unwrap().http.port, 8000);
        // Without a signing key only the development mode starts.
        let unset = |_: &str| None;
        let err = load_selected(&unset).await.unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        let dev = |name: &str| (name == "SKILLREEL_ENV").then(|| "development".to_owned());
        assert!(load_selected(&dev).await.is_ok());
        let bogus = |name: &str| (name == "CONFIG_SOURCE").then(|| "vault".to_owned());
        let err = load_selected(&bogus).await.unwrap_err().to_string();
        assert!(
            err.contains("CONFIG_SOURCE") && err.contains("vault"),
            "{err}"
        );
    }
}
