//! The admin API: HTTP/1.1 + JSON on the Unix socket. Errors are `{"error": "..."}` with a 4xx/5xx.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::config::{valid_service_name, Route};
use crate::proxy::local;
use crate::server::{Body, Shared};

const MAX_BODY: usize = 1 << 20;

pub(crate) struct ApiError(pub(crate) StatusCode, pub(crate) String);

fn err(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

fn ok_json(value: Value) -> Response<Body> {
    let mut text = value.to_string();
    text.push('\n');
    local(StatusCode::OK, "application/json", text)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrainBody {
    pub(crate) target: SocketAddr,
    #[serde(default = "default_drain_ms")]
    pub(crate) timeout_ms: u64,
}

fn default_drain_ms() -> u64 {
    30_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PauseBody {
    pub(crate) service: String,
    max_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceBody {
    service: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MaintenanceBody {
    pub(crate) service: String,
    on: bool,
    #[serde(default)]
    page: Option<String>,
}

const DEFAULT_PAGE: &str = "<!doctype html><title>Maintenance</title><h1>Down for maintenance</h1>\
<p>We will be back shortly.</p>\n";

pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    match route(shared, req).await {
        Ok(response) => response,
        Err(ApiError(status, message)) => {
            let mut text = json!({ "error": message }).to_string();
            text.push('\n');
            local(status, "application/json", text)
        }
    }
}

async fn body<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, ApiError> {
    decode(&body_bytes(req).await?)
}

async fn body_bytes(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    Ok(Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| err(StatusCode::BAD_REQUEST, format!("reading the body: {e}")))?
        .to_bytes())
}

/// A request body's JSON (`fuzzing::admin_request` reads bodies through this too).
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| err(StatusCode::BAD_REQUEST, format!("body: {e}")))
}

/// The route a `PUT /routes/{service}` body asks for, validated and normalized.
pub(crate) fn put_route(service: &str, body: &[u8]) -> Result<Route, ApiError> {
    let service = service_name(service)?;
    let mut route: Route = decode(body)?;
    if route.service.is_empty() {
        route.service = service.clone();
    }
    if route.service != service {
        return Err(err(StatusCode::BAD_REQUEST, format!("the body names service {:?}", route.service)));
    }
    route.validate().map_err(|e| err(StatusCode::BAD_REQUEST, e))?;
    Ok(route)
}

fn check_mutable(shared: &Shared) -> Result<(), ApiError> {
    if shared.upgrading.load(Ordering::SeqCst) || shared.stopping() {
        return Err(err(StatusCode::CONFLICT, "the proxy is upgrading or stopping; retry on the new process"));
    }
    Ok(())
}

pub(crate) fn service_name(name: &str) -> Result<String, ApiError> {
    if valid_service_name(name) {
        Ok(name.to_string())
    } else {
        Err(err(StatusCode::BAD_REQUEST, format!("bad service name {name:?}")))
    }
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["health"]) => Ok(ok_json(json!({
            "status": if shared.stopping() { "stopping" } else { "ok" },
            "pid": std::process::id(),
            "held": shared.held.load(Ordering::SeqCst),
            "connections": shared.connections(),
            "version": env!("CARGO_PKG_VERSION"),
            "listen": shared.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        }))),
        (&Method::GET, ["routes"]) => Ok(ok_json(json!({ "routes": shared.routes() }))),
        (&Method::GET, ["routes", service]) => {
            let table = shared.snapshot();
            match table.get(service) {
                Some(entry) => Ok(ok_json(json!(entry.route))),
                None => Err(err(StatusCode::NOT_FOUND, format!("no route {service:?}"))),
            }
        }
        (&Method::PUT, ["routes", service]) => {
            let bytes = body_bytes(req).await?;
            let route = put_route(service, &bytes)?;
            let service = route.service.clone();
            let _lock = shared.state_lock.lock().await;
            check_mutable(&shared)?;
            let mut routes: Vec<Route> = shared.routes().into_iter().filter(|r| r.service != service).collect();
            routes.push(route.clone());
            let maintenance = shared.maintenance.read().unwrap_or_else(PoisonError::into_inner).clone();
            shared.commit(routes, maintenance).map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            tracing::info!(%service, "route replaced");
            Ok(ok_json(json!(route)))
        }
        (&Method::DELETE, ["routes", service]) => {
            let service = service_name(service)?;
            let _lock = shared.state_lock.lock().await;
            check_mutable(&shared)?;
            let before = shared.routes();
            if !before.iter().any(|r| r.service == service) {
                return Err(err(StatusCode::NOT_FOUND, format!("no route {service:?}")));
            }
            let routes = before.into_iter().filter(|r| r.service != service).collect();
            let mut maintenance = shared.maintenance.read().unwrap_or_else(PoisonError::into_inner).clone();
            maintenance.remove(&service);
            shared.commit(routes, maintenance).map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            tracing::info!(%service, "route deleted");
            Ok(ok_json(json!({ "deleted": service })))
        }
        (&Method::POST, ["routes", service, "drain"]) => {
            let service = service_name(service)?;
            let DrainBody { target, timeout_ms } = body(req).await?;
            let in_flight = match shared.stats.find_target(&service, target) {
                Some(stats) => stats.drain(Duration::from_millis(timeout_ms)).await,
                None => 0,
            };
            Ok(ok_json(json!({ "drained": in_flight == 0, "in_flight": in_flight })))
        }
        (&Method::GET, ["routes", service, "stats"]) => Ok(ok_json(shared.stats.service_json(service))),
        (&Method::POST, ["pause"]) => {
            let PauseBody { service, max_ms } = body(req).await?;
            let service = service_name(&service)?;
            shared
                .paused
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(service.clone(), Duration::from_millis(max_ms));
            Ok(ok_json(json!({ "paused": service, "max_ms": max_ms })))
        }
        (&Method::POST, ["resume"]) => {
            let ServiceBody { service } = body(req).await?;
            let was = shared.paused.lock().unwrap_or_else(PoisonError::into_inner).remove(&service).is_some();
            shared.resumed.send_modify(|n| *n += 1);
            Ok(ok_json(json!({ "resumed": service, "was_paused": was })))
        }
        (&Method::POST, ["maintenance"]) => {
            let MaintenanceBody { service, on, page } = body(req).await?;
            let service = service_name(&service)?;
            let _lock = shared.state_lock.lock().await;
            check_mutable(&shared)?;
            let mut maintenance = shared.maintenance.read().unwrap_or_else(PoisonError::into_inner).clone();
            if on {
                maintenance.insert(service.clone(), page.unwrap_or_else(|| DEFAULT_PAGE.to_string()));
            } else {
                maintenance.remove(&service);
            }
            shared
                .commit(shared.routes(), maintenance)
                .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            Ok(ok_json(json!({ "service": service, "maintenance": on })))
        }
        (&Method::GET, ["certificates"]) => Ok(ok_json(shared.certs.to_json())),
        (&Method::GET, ["metrics"]) => {
            Ok(local(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", shared.stats.prometheus()))
        }
        (&Method::POST, ["upgrade"]) => {
            let _lock = shared.state_lock.lock().await;
            let successor = shared.upgrade().await.map_err(|e| err(StatusCode::CONFLICT, e.to_string()))?;
            Ok(ok_json(json!({ "upgraded": true, "pid": successor.pid() })))
        }
        (_, ["health"] | ["routes"] | ["routes", _] | ["routes", _, "drain" | "stats"])
        | (_, ["pause"] | ["resume"] | ["maintenance"] | ["metrics"] | ["upgrade"] | ["certificates"]) => {
            Err(err(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {path}")))
        }
        _ => Err(err(StatusCode::NOT_FOUND, format!("no endpoint {path}"))),
    }
}
