//! The built-in cloud's HTTP endpoints: STS (`POST /cloud/sts`), the role sign-in endpoint
//! (`POST /cloud/signin/saml-role/sso`), user-based sign-in (`POST /cloud/signin/saml/{account_id}/sso`)
//! and the console landing page (`GET /cloud/console`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use saml::binding::html_escape;
use serde_json::json;

use super::auth::{clear_cookie, cookie_value, set_cookie};
use super::{AppState, ClientIp, csrf};
use crate::access_configuration::is_cloud_page;
use crate::audit::{Actor, NewAuditEvent};
use crate::cloud::resource::IdentityType;
use crate::cloud::sts::{CONSOLE_COOKIE, StsError, first_values, form_pairs};

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cloud/sts", post(sts))
        .route("/cloud/signin/saml-role/sso", post(role_sign_in))
        .route("/cloud/signin/saml/{account_id}/sso", post(user_sign_in))
        .route("/cloud/console", get(console))
        .route("/cloud/console/logout", post(console_logout))
}

fn request_id() -> String {
    web::id::new_id("req")
}

fn sts_error(e: &StsError) -> Response {
    let status = match e {
        StsError::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
        StsError::UnknownProvider(_) | StsError::UnknownRole(_) => StatusCode::NOT_FOUND,
        StsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::FORBIDDEN,
    };
    if matches!(e, StsError::Internal(_)) {
        tracing::error!(error = %e, "cloud STS internal error");
    } else {
        tracing::info!(code = e.code(), "cloud request refused");
    }
    let message = match e {
        StsError::Internal(_) => "internal error".to_owned(),
        other => other.to_string(),
    };
    (
        status,
        axum::Json(json!({ "RequestId": request_id(), "Code": e.code(), "Message": message })),
    )
        .into_response()
}

/// `POST /cloud/sts`: `Action=AssumeRoleWithSAML` (unsigned: the assertion is the proof) or
/// `Action=GetCallerIdentity` (signed with STS credentials, see `cloud::signature`).
async fn sts(State(state): State<AppState>, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    let fields = first_values(&pairs);
    match fields.get("Action").map(String::as_str) {
        Some("AssumeRoleWithSAML") => {
            let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
            let duration = match fields
                .get("DurationSeconds")
                .map(|d| d.trim().parse::<i64>())
            {
                None => None,
                Some(Ok(d)) => Some(d),
                Some(Err(_)) => {
                    return sts_error(&StsError::InvalidParameter {
                        code: "InvalidParameter.DurationSeconds",
                        message: "DurationSeconds must be a number".into(),
                    });
                }
            };
            match state
                .assume_role_with_saml(
                    get("SAMLAssertion"),
                    get("RoleArn"),
                    fields
                        .get("SAMLProviderArn")
                        .or_else(|| fields.get("PrincipalArn"))
                        .map_or("", String::as_str),
                    duration,
                )
                .await
            {
                Ok(result) => {
                    let mut value = serde_json::to_value(&result).unwrap_or_default();
                    if let Some(obj) = value.as_object_mut() {
                        obj.insert("RequestId".into(), json!(request_id()));
                    }
                    axum::Json(value).into_response()
                }
                Err(e) => sts_error(&e),
            }
        }
        Some("GetCallerIdentity") => match state
            .authenticate_signed_request("POST", "/cloud/sts", pairs)
            .await
        {
            Ok(credential) => {
                let identity = state.caller_identity(&credential);
                let mut value = serde_json::to_value(&identity).unwrap_or_default();
                if let Some(obj) = value.as_object_mut() {
                    obj.insert("RequestId".into(), json!(request_id()));
                }
                axum::Json(value).into_response()
            }
            Err(e) => sts_error(&e),
        },
        _ => sts_error(&StsError::InvalidParameter {
            code: "InvalidAction.NotFound",
            message: "Action must be AssumeRoleWithSAML or GetCallerIdentity".into(),
        }),
    }
}

fn refused_page(status: StatusCode, e: &StsError) -> Response {
    let message = match e {
        StsError::Internal(_) => "internal error".to_owned(),
        other => other.to_string(),
    };
    tracing::info!(code = e.code(), "cloud sign-in refused");
    (
        status,
        Html(format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in refused</title></head>\
             <body><h1>Sign-in refused</h1><p>{}</p></body></html>",
            html_escape(&message)
        )),
    )
        .into_response()
}

fn saml_response_field(body: &[u8]) -> (Option<String>, Option<String>) {
    let fields = first_values(&form_pairs(body));
    (
        fields.get("SAMLResponse").cloned(),
        fields.get("RelayState").cloned(),
    )
}

fn landing(relay_state: Option<&str>) -> String {
    match relay_state.map(str::trim) {
        Some(path) if is_cloud_page(path) => path.to_owned(),
        _ => "/cloud/console".to_owned(),
    }
}

/// The CSRF token of a console session: derived from its cookie secret (which a cross-site
/// page cannot read), so it needs no storage.
fn console_csrf_token(cookie_token: &str) -> String {
    web::id::hash_secret(&format!("cloud-console-csrf:{cookie_token}"))
}

/// Records a console sign-in (or its refusal): the portal user the Response was issued to (when
/// known) with the source address, the role or RAM user as target.
async fn audit_sign_in(
    state: &AppState,
    directory_id: Option<&str>,
    actor: &Actor,
    target: Option<(&str, &str)>,
    detail: serde_json::Value,
    ok: bool,
) -> Result<(), crate::error::Error> {
    let mut ev = NewAuditEvent::new(directory_id, actor, "cloud_console", "sign_in").detail(detail);
    if let Some((t, id)) = target {
        ev = ev.target(t, id);
    }
    if !ok {
        ev = ev.failure();
    }
    state.record_audit(&ev).await.map(|_| ())
}

/// Records a refused sign-in (best effort) and renders the refusal.
async fn refuse_sign_in(state: &AppState, ip: Option<String>, e: &StsError) -> Response {
    let detail = json!({ "reason": e.to_string() });
    if let Err(ae) = audit_sign_in(state, None, &Actor::anonymous(ip), None, detail, false).await {
        tracing::warn!(error = %ae, "cannot record console sign-in audit event");
    }
    refused_page(StatusCode::FORBIDDEN, e)
}

/// `POST /cloud/signin/saml-role/sso`: role-based SSO into a console session as the role.
async fn role_sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    let (response, relay_state) = saml_response_field(&body);
    let Some(xml) = response.and_then(|r| saml::binding::decode_post(&r).ok()) else {
        return refused_page(
            StatusCode::BAD_REQUEST,
            &StsError::InvalidParameter {
                code: "InvalidParameter.SAMLResponse",
                message: "missing or malformed SAMLResponse".into(),
            },
        );
    };
    let verified = match state.verify_role_response(&xml, None).await {
        Ok(v) => v,
        Err(e) => return refuse_sign_in(&state, ip, &e).await,
    };
    let seconds = verified
        .requested_seconds
        .unwrap_or(3600)
        .clamp(900, verified.role.max_session_duration.max(900));
    let token = match state
        .open_cloud_console_session(
            &verified.account.id,
            IdentityType::AssumedRoleUser,
            &verified.role.name,
            verified.session_name.as_str(),
            seconds,
        )
        .await
    {
        Ok(t) => t,
        Err(e) => return refused_page(StatusCode::INTERNAL_SERVER_ERROR, &StsError::Internal(e)),
    };
    let directory_id = verified.account.directory_id.clone();
    let actor = match state
        .find_user_by_name(&directory_id, verified.session_name.as_str())
        .await
    {
        Ok(Some(u)) => Actor::user(u.id, ip),
        _ => Actor::anonymous(ip),
    };
    let detail = json!({
        "account_id": verified.account.id,
        "session_name": verified.session_name.as_str(),
        "seconds": seconds,
    });
    if let Err(e) = audit_sign_in(
        &state,
        Some(&directory_id),
        &actor,
        Some(("role", &verified.role.arn)),
        detail,
        true,
    )
    .await
    {
        return refused_page(StatusCode::INTERNAL_SERVER_ERROR, &StsError::Internal(e));
    }
    let mut response = Redirect::to(&landing(relay_state.as_deref())).into_response();
    if let Ok(v) = set_cookie(CONSOLE_COOKIE, &token, seconds, state.config.secure_cookies).parse()
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `POST /cloud/signin/saml/{account_id}/sso`: user-based SSO into a console session as a RAM user.
async fn user_sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(account_id): Path<String>,
    body: Bytes,
) -> Response {
    let (response, relay_state) = saml_response_field(&body);
    let Some(xml) = response.and_then(|r| saml::binding::decode_post(&r).ok()) else {
        return refused_page(
            StatusCode::BAD_REQUEST,
            &StsError::InvalidParameter {
                code: "InvalidParameter.SAMLResponse",
                message: "missing or malformed SAMLResponse".into(),
            },
        );
    };
    let (account, user) = match state.verify_user_response(&account_id, &xml).await {
        Ok(v) => v,
        Err(e) => return refuse_sign_in(&state, ip, &e).await,
    };
    let seconds = 6 * 3600;
    let token = match state
        .open_cloud_console_session(
            &account.id,
            IdentityType::RamUser,
            &user.name,
            &user.name,
            seconds,
        )
        .await
    {
        Ok(t) => t,
        Err(e) => return refused_page(StatusCode::INTERNAL_SERVER_ERROR, &StsError::Internal(e)),
    };
    let actor = match &user.sso_user_id {
        Some(id) => Actor::user(id.clone(), ip),
        None => Actor::anonymous(ip),
    };
    let arn = format!("acs:ram::{}:user/{}", account.id, user.name);
    if let Err(e) = audit_sign_in(
        &state,
        Some(&account.directory_id),
        &actor,
        Some(("ram_user", &arn)),
        json!({ "account_id": account.id, "seconds": seconds }),
        true,
    )
    .await
    {
        return refused_page(StatusCode::INTERNAL_SERVER_ERROR, &StsError::Internal(e));
    }
    let mut response = Redirect::to(&landing(relay_state.as_deref())).into_response();
    if let Ok(v) = set_cookie(CONSOLE_COOKIE, &token, seconds, state.config.secure_cookies).parse()
    {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// `GET /cloud/console`: who you are, in which account, with which policies.
async fn console(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = cookie_value(&headers, CONSOLE_COOKIE);
    let view = match token {
        Some(token) => match state.cloud_console_view(token).await {
            Ok(v) => v,
            Err(e) => return super::ApiError::from(e).into_response(),
        },
        None => None,
    };
    let Some(view) = view else {
        return (
            StatusCode::UNAUTHORIZED,
            Html(
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cloud console</title></head>\
                 <body><h1>Cloud console</h1><p>You are not signed in. Sign in through your Cloud SSO user portal.</p></body></html>"
                    .to_owned(),
            ),
        )
            .into_response();
    };
    let identity = match view.identity_type {
        IdentityType::AssumedRoleUser => "RAM role session",
        IdentityType::RamUser => "RAM user",
    };
    let mut policies = String::new();
    for p in &view.policies {
        policies.push_str(&format!(
            "<li><strong class=\"policy-name\">{}</strong> ({})<pre>{}</pre></li>",
            html_escape(&p.policy_name),
            p.policy_type.as_str(),
            html_escape(&p.document)
        ));
    }
    if policies.is_empty() {
        policies.push_str("<li>No policies: this identity has no permissions.</li>");
    }
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cloud console</title></head><body>\
         <h1>Cloud console</h1>\
         <dl>\
         <dt>Identity</dt><dd id=\"identity-type\">{identity}</dd>\
         <dt>Signed in as</dt><dd id=\"principal\">{principal}</dd>\
         <dt>Session name</dt><dd id=\"session-name\">{session}</dd>\
         <dt>ARN</dt><dd id=\"arn\">{arn}</dd>\
         <dt>Account</dt><dd id=\"account\">{account_name} ({account_id})</dd>\
         <dt>Session ends</dt><dd id=\"expires\">{expires}</dd>\
         </dl><h2>Effective policies</h2><ul id=\"policies\">{policies}</ul>\
         <form method=\"post\" action=\"/cloud/console/logout\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
         <button type=\"submit\">Sign out</button></form>\
         </body></html>",
        csrf = html_escape(&console_csrf_token(token.unwrap_or_default())),
        principal = html_escape(&view.principal_name),
        session = html_escape(&view.session_name),
        arn = html_escape(&view.arn),
        account_name = html_escape(&view.account.name),
        account_id = html_escape(&view.account.id),
        expires = crate::cloud::credentials::format_expiration(view.expires_at),
    ))
    .into_response()
}

/// `POST /cloud/console/logout` (form field `csrf_token` from the console page).
async fn console_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(token) = cookie_value(&headers, CONSOLE_COOKIE) {
        let fields = first_values(&form_pairs(&body));
        if let Err(e) = csrf::verify(
            &console_csrf_token(token),
            fields.get("csrf_token").map(String::as_str),
        ) {
            return e.into_response();
        }
        if let Err(e) = state.close_cloud_console_session(token).await {
            return super::ApiError::from(e).into_response();
        }
    }
    let mut response = Redirect::to("/cloud/console").into_response();
    if let Ok(v) = clear_cookie(CONSOLE_COOKIE, state.config.secure_cookies).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}
