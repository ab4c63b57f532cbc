//! The rate-limit middleware: resolves the client address, counts the request against
//! its rule in Redis ([`skillreel_shared::ratelimit`]) and, for sign-up and login,
//! holds one of the client's hashing slots until the response is ready.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{Method, header::HeaderName},
    middleware::Next,
    response::{IntoResponse, Response},
};
use skillreel_shared::ratelimit::{Limited, Rule, client};

use crate::{error::ApiError, state::AppState};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client address of a request (see [`client::client_addr`]), for handlers and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The rule a request counts against; `None` for health checks.
fn rule_for(method: &Method, route: Option<&str>) -> Option<Rule> {
    match (method, route) {
        (_, Some(r)) if r.starts_with("/health/") => None,
        (&Method::POST, Some("/api/auth/login")) => Some(Rule::Login),
        (&Method::POST, Some("/api/auth/signup")) => Some(Rule::Signup),
        (&Method::POST, Some("/api/public/videos/{id}/vote")) => Some(Rule::Vote),
        (&Method::POST, Some("/api/videos/upload" | "/api/videos/uploads")) => Some(Rule::Upload),
        _ => Some(Rule::Global),
    }
}

/// Counts the request against its limit; `429` with `Retry-After` past it.
pub async fn limit_requests(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Without a socket (a router called in-process) every request is one client.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let forwarded = request
        .headers()
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let client = client::client_addr(peer, forwarded, state.limiter.config());
    request.extensions_mut().insert(ClientAddr(client));
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let Some(rule) = rule_for(request.method(), route) else {
        return next.run(request).await;
    };
    if let Err(limited) = state.limiter.hit(rule, client).await {
        return too_many(limited);
    }
    // Held until the response is ready.
    let _slot = if matches!(rule, Rule::Login | Rule::Signup) && state.limiter.config().enabled {
        let Some(slot) = state.hash_slots.try_acquire(client) else {
            return too_many(Limited {
                code: rule.code(),
                detail:
                    "Too many sign-ins at once from this address; wait for the others to finish"
                        .into(),
                retry_after: 1,
            });
        };
        Some(slot)
    } else {
        None
    };
    next.run(request).await
}

/// The `429` of a refused request.
pub fn limited(limited: Limited) -> ApiError {
    ApiError::TooManyRequests {
        code: limited.code,
        detail: limited.detail,
        retry_after: limited.retry_after,
    }
}

fn too_many(refused: Limited) -> Response {
    limited(refused).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_their_rules() {
        assert_eq!(rule_for(&Method::GET, Some("/health/ready")), None);
        assert_eq!(
            rule_for(&Method::POST, Some("/api/auth/login")),
            Some(Rule::Login)
        );
        assert_eq!(
            rule_for(&Method::GET, Some("/api/auth/login")),
            Some(Rule::Global)
        );
        assert_eq!(
            rule_for(&Method::POST, Some("/api/public/videos/{id}/vote")),
            Some(Rule::Vote)
        );
        assert_eq!(rule_for(&Method::GET, None), Some(Rule::Global));
    }
}
