//! The Cloud SSO console: server-rendered admin pages (no JavaScript needed) for Step 2 of the seed
//! procedure: sign-in, an overview of the directories, and Settings > SSO Logon (IdP information,
//! Configure Identity Provider by metadata upload or by hand, the SSO switch with its confirmation,
//! WantRequestSigned and BindingType, Clear IdP, and the SP information to copy), Settings > User
//! Settings (the SCIM synchronization switch with the SCIM endpoint, the SCIM credentials with
//! Generate New SCIM Credential, whose secret is shown once, Enable/Disable/Rotate/Delete), and the
//! users and groups lists (Synchronized objects carry a badge and lose their Delete button while
//! SCIM is on; logon can still be enabled or disabled).
//!
//! **Who may sign in.** Console administrators are the holders of an admin API token: a
//! directory token (the directory's administrators, as the management account's admins of the
//! product) or a platform token (every directory). `POST /console/login` takes the token in a
//! password field, as a "sign in with an access key" page does, and opens a console session
//! (table `sessions`, kind `console`, at most [`CONSOLE_SESSION_SECS`] and never past the token's
//! expiry); the session stays valid only while its token does (deleting the token signs the console
//! out). The sign-in form carries a login CSRF token (double-submit cookie); every console form
//! carries the session's CSRF token in the hidden field `csrf`. `POST /console/logout` ends it.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use serde::Deserialize;

use super::auth::{self, CONSOLE_COOKIE, CONSOLE_LOGIN_CSRF_COOKIE, ConsoleSession};
use super::page::{esc, page, see_other, set_cookie_on};
use super::{ApiError, AppState, ClientIp, api_error};
use crate::api_token::ApiToken;
use crate::audit::{Actor, NewAuditEvent};
use crate::directory::{BindingType, Directory};
use crate::error::Error;
use crate::scim_credential::{CreatedScimCredential, ScimCredentialStatus};
use crate::sso_settings::{ManualIdpConfig, SsoSettingsPatch, parse_certificate};
use crate::store::{self, session::Session, session::SessionKind};
use crate::user::{ProvisionType, UserPatch, UserStatus};

/// Longest console session, in seconds (8 hours).
pub const CONSOLE_SESSION_SECS: i64 = 8 * 3600;

const S: &str = "/console/directories/{directory_id}/settings";

/// The console routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/login", get(login_page).post(login_submit))
        .route("/console/logout", post(logout))
        .route("/console", get(overview))
        .route("/console/settings", get(settings_shortcut))
        .route(S, get(settings))
        .route(&format!("{S}/idp/metadata"), post(upload_metadata))
        .route(&format!("{S}/idp/manual"), post(configure_manual))
        .route(&format!("{S}/idp/clear"), post(clear_idp))
        .route(&format!("{S}/sso"), post(switch_sso))
        .route(&format!("{S}/options"), post(save_options))
        // Settings > User Settings: SCIM synchronization and credentials (issue 4).
        .route(&format!("{S}/scim"), post(switch_scim))
        .route(
            &format!("{S}/scim/credentials"),
            post(generate_scim_credential),
        )
        .route(
            &format!("{S}/scim/credentials/{{credential_id}}/{{action}}"),
            post(scim_credential_action),
        )
        .route("/console/directories/{directory_id}/users", get(users_page))
        .route(
            "/console/directories/{directory_id}/users/{user_id}/{action}",
            post(user_action),
        )
        .route(
            "/console/directories/{directory_id}/groups",
            get(groups_page),
        )
        .route(
            "/console/directories/{directory_id}/groups/{group_id}/delete",
            post(delete_group),
        )
}

// ---- sign-in ---------------------------------------------------------------------------------

fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let csrf = auth::login_csrf_token(headers, CONSOLE_LOGIN_CSRF_COOKIE);
    let err = error
        .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "{err}<p>Sign in with an administrator API token of Cloud SSO (a directory token, or a \
         platform token for every directory).</p>\n\
         <form method=\"post\" action=\"/console/login\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <label for=\"api_token\">API token</label><br>\n\
         <input id=\"api_token\" name=\"api_token\" type=\"password\" autocomplete=\"off\" required><br>\n\
         <button type=\"submit\">Sign in</button></form>",
        csrf = esc(&csrf),
    );
    set_cookie_on(
        page(status, "Cloud SSO console sign-in", &body),
        &auth::login_csrf_cookie(
            CONSOLE_LOGIN_CSRF_COOKIE,
            &csrf,
            state.config.secure_cookies,
        ),
    )
}

async fn login_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Ok(Some(s)) = auth::load_session(&state, &headers, CONSOLE_COOKIE).await
        && s.kind == SessionKind::Console
    {
        return see_other("/console", &[]);
    }
    login_form(&state, &headers, None, StatusCode::OK)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    api_token: String,
    #[serde(default)]
    csrf: Option<String>,
}

/// Opens a console session for `token` and records it in the audit log.
async fn open_session(
    state: &AppState,
    token: &ApiToken,
    ip: Option<String>,
) -> Result<store::session::NewSession, Error> {
    let now = state.now();
    let expires_at = token.expires_at.map_or(now + CONSOLE_SESSION_SECS, |e| {
        e.min(now + CONSOLE_SESSION_SECS)
    });
    let actor = Actor::api_token(token.id.clone(), ip.clone());
    let mut tx = state.store.begin_write().await?;
    let new = store::session::create(
        &mut tx,
        Session {
            id_hash: String::new(),
            kind: SessionKind::Console,
            directory_id: token.directory_id.clone(),
            user_id: None,
            api_token_id: Some(token.id.clone()),
            authn_method: "api_token".to_owned(),
            mfa_pending: false,
            pending_totp_enc: None,
            relay_state: None,
            csrf_token: String::new(),
            source_ip: ip,
            created_at: now,
            expires_at,
        },
    )
    .await?;
    let ev = NewAuditEvent::new(token.directory_id.as_deref(), &actor, "console", "login")
        .target("api_token", &token.id);
    store::audit::append(&mut tx, &ev, now).await?;
    tx.commit().await?;
    Ok(new)
}

async fn audit_failed_login(state: &AppState, ip: Option<String>) -> Result<(), Error> {
    let now = state.now();
    let ev = NewAuditEvent::new(None, &Actor::anonymous(ip), "console", "login").failure();
    let mut tx = state.store.begin_write().await?;
    store::audit::append(&mut tx, &ev, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if auth::verify_login_csrf(&headers, CONSOLE_LOGIN_CSRF_COOKIE, form.csrf.as_deref()).is_err() {
        return login_form(
            &state,
            &headers,
            Some("Your sign-in form expired. Please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    if let Err(e) = state.check_logon_rate(ip.as_deref()).await {
        return login_form(
            &state,
            &headers,
            Some(&e.user_message()),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let secret = form.api_token.trim();
    let token = if secret.is_empty() {
        None
    } else {
        match state.authenticate_api_token(secret).await {
            Ok(t) => t,
            Err(e) => return ApiError::from(e).into_response(),
        }
    };
    let Some(token) = token else {
        if let Err(e) = audit_failed_login(&state, ip).await {
            tracing::error!(error = %e, "cannot audit a failed console sign-in");
        }
        return login_form(
            &state,
            &headers,
            Some("Invalid or expired API token."),
            StatusCode::UNAUTHORIZED,
        );
    };
    match open_session(&state, &token, ip).await {
        Ok(new) => {
            let cookie = auth::set_cookie(
                CONSOLE_COOKIE,
                &new.token,
                new.session.expires_at - new.session.created_at,
                state.config.secure_cookies,
            );
            let clear = auth::clear_cookie(CONSOLE_LOGIN_CSRF_COOKIE, state.config.secure_cookies);
            see_other("/console", &[cookie, clear])
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A form with only the CSRF token.
#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

fn csrf_refused() -> Response {
    page(
        StatusCode::FORBIDDEN,
        "Form expired",
        "<p class=\"err\">The form was missing its security token or it expired. \
         <a href=\"/console\">Reload the console</a> and try again.</p>",
    )
}

async fn logout(
    State(state): State<AppState>,
    console: ConsoleSession,
    Form(form): Form<CsrfForm>,
) -> Response {
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    let now = state.now();
    let result: Result<(), Error> = async {
        let mut tx = state.store.begin_write().await?;
        store::session::delete(&mut tx, &console.session.id_hash).await?;
        let ev = NewAuditEvent::new(
            console.token.directory_id.as_deref(),
            &console.actor,
            "console",
            "logout",
        );
        store::audit::append(&mut tx, &ev, now).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        return ApiError::from(e).into_response();
    }
    see_other(
        "/console/login",
        &[auth::clear_cookie(
            CONSOLE_COOKIE,
            state.config.secure_cookies,
        )],
    )
}

// ---- pages -----------------------------------------------------------------------------------

/// The directories the console session may manage.
async fn directories(state: &AppState, console: &ConsoleSession) -> Result<Vec<Directory>, Error> {
    match &console.token.directory_id {
        Some(id) => Ok(vec![state.get_directory(id).await?]),
        None => state.list_directories().await,
    }
}

fn header(console: &ConsoleSession) -> String {
    format!(
        "<nav><a href=\"/console\">Overview</a> · token <code>{name}</code> \
         <form method=\"post\" action=\"/console/logout\" style=\"display:inline\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Sign out</button></form></nav>\n",
        name = esc(&console.token.name),
        csrf = esc(&console.session.csrf_token),
    )
}

async fn overview(State(state): State<AppState>, console: ConsoleSession) -> Response {
    let dirs = match directories(&state, &console).await {
        Ok(d) => d,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut rows = String::new();
    for d in &dirs {
        let portal = state.portal_url(d);
        rows.push_str(&format!(
            "<tr><td>{name}</td><td><code>{id}</code></td><td><a href=\"{portal}\">{portal}</a></td>\
             <td>{sso}</td><td><a href=\"/console/directories/{id}/settings\">Settings</a> · \
             <a href=\"/console/directories/{id}/users\">Users</a> · \
             <a href=\"/console/directories/{id}/groups\">Groups</a></td></tr>\n",
            name = esc(&d.name),
            id = esc(&d.id),
            portal = esc(&portal),
            sso = if d.sso.enabled { "Enabled" } else { "Disabled" },
        ));
    }
    let body = format!(
        "{nav}<h2>Directories</h2>\n{table}",
        nav = header(&console),
        table = if dirs.is_empty() {
            "<p>No directory yet.</p>".to_owned()
        } else {
            format!(
                "<table><tr><th>Directory name</th><th>Directory ID</th><th>User Logon URL</th>\
                 <th>SSO logon</th><th></th></tr>\n{rows}</table>"
            )
        },
    );
    page(StatusCode::OK, "Cloud SSO console", &body)
}

async fn settings_shortcut(State(state): State<AppState>, console: ConsoleSession) -> Response {
    match directories(&state, &console).await {
        Ok(dirs) if dirs.len() == 1 => see_other(
            &format!("/console/directories/{}/settings", dirs[0].id),
            &[],
        ),
        Ok(_) => see_other("/console", &[]),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The directory in the path, if the console session covers it (404 otherwise, never revealing
/// whether it exists).
async fn directory(
    state: &AppState,
    console: &ConsoleSession,
    id: &str,
) -> Result<Directory, Response> {
    let not_found = || {
        page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>There is no such directory. <a href=\"/console\">Back to the console</a></p>",
        )
    };
    if !console.token.covers(id) {
        return Err(not_found());
    }
    match state.get_directory(id).await {
        Ok(d) => Ok(d),
        Err(Error::NotFound(_)) => Err(not_found()),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// The outcome shown at the top of the settings page after a form.
#[derive(Debug, Deserialize)]
struct SettingsQuery {
    #[serde(default)]
    done: Option<String>,
}

fn done_message(key: &str) -> Option<&'static str> {
    Some(match key {
        "metadata" => "The IdP metadata was uploaded.",
        "manual" => "The IdP configuration was saved.",
        "cleared" => "The IdP information was cleared.",
        "sso_on" => "SSO logon is enabled. Username-password logon is disabled.",
        "sso_off" => "SSO logon is disabled. Username-password logon is restored.",
        "options" => "The SSO logon options were saved.",
        "scim_on" => {
            "SCIM synchronization is enabled. Synchronized users and groups are read-only."
        }
        "scim_off" => {
            "SCIM synchronization is disabled. Synchronized users and groups are editable."
        }
        "scim_enable" => "The SCIM credential was enabled.",
        "scim_disable" => "The SCIM credential was disabled.",
        "scim_delete" => "The SCIM credential was deleted.",
        _ => return None,
    })
}

fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

async fn settings_page(
    state: &AppState,
    console: &ConsoleSession,
    d: &Directory,
    notice: Option<(bool, String)>,
    status: StatusCode,
) -> Response {
    let info = match state.get_idp_info(&d.id).await {
        Ok(i) => i,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let sp = state.sp_info(d);
    let csrf = esc(&console.session.csrf_token);
    let base = format!("/console/directories/{}/settings", esc(&d.id));
    let user_settings = match user_settings_section(state, d, &base, &csrf).await {
        Ok(h) => h,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let notice = notice
        .map(|(ok, text)| {
            if ok {
                format!("<p class=\"note\" role=\"status\">{}</p>\n", esc(&text))
            } else {
                format!("<p class=\"err\" role=\"alert\">{}</p>\n", esc(&text))
            }
        })
        .unwrap_or_default();
    let mut certs = String::new();
    for c in &info.certificates {
        let expires = parse_certificate(&c.certificate)
            .map(|p| {
                p.not_after()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            })
            .unwrap_or_else(|_| "unreadable".to_owned());
        certs.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
            esc(&c.fingerprint),
            esc(&expires),
            esc(&when(c.created_at)),
        ));
    }
    let certs = if certs.is_empty() {
        "<p>No certificate.</p>".to_owned()
    } else {
        format!(
            "<table><tr><th>SHA-256 fingerprint</th><th>Expires</th><th>Added</th></tr>\n{certs}</table>"
        )
    };
    let opt = |v: &Option<String>| {
        v.as_deref()
            .map(|s| format!("<code>{}</code>", esc(s)))
            .unwrap_or_else(|| "not configured".to_owned())
    };
    let (switch_label, switch_value) = if info.sso_enabled {
        ("Disable SSO", "false")
    } else {
        ("Enable SSO", "true")
    };
    let clear = if info.sso_enabled {
        "<p class=\"note\">The IdP information can be cleared only while SSO logon is disabled.</p>"
            .to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"{base}/idp/clear\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Clear IdP information</button></form>"
        )
    };
    let binding_option = |b: BindingType| {
        format!(
            "<option value=\"{v}\"{sel}>{v}</option>",
            v = b.as_str(),
            sel = if info.binding_type == b {
                " selected"
            } else {
                ""
            }
        )
    };
    let body = format!(
        "{nav}{notice}<p>Directory <strong>{name}</strong> (<code>{id}</code>) · User Logon URL \
         <a href=\"{portal}\">{portal}</a></p>\n\
         <h2>SSO Logon</h2>\n\
         <p>SSO logon: <strong id=\"sso-status\">{status_text}</strong> · username-password logon: \
         <strong id=\"password-logon-status\">{pw_text}</strong></p>\n\
         <form method=\"post\" action=\"{base}/sso\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"sso_enabled\" value=\"{switch_value}\">\
         <button type=\"submit\">{switch_label}</button></form>\n\
         <h3>SP information</h3>\n\
         <p>Give these to your identity provider.</p>\n\
         <table><tr><th>ACS URL</th><td><code id=\"acs-url\">{acs}</code></td></tr>\n\
         <tr><th>Entity ID</th><td><code id=\"sp-entity-id\">{entity}</code></td></tr>\n\
         <tr><th>SP metadata</th><td><a href=\"/saml/sp/{id}/metadata\" download>Download SP metadata</a></td></tr></table>\n\
         <h3>IdP information</h3>\n\
         <table><tr><th>IdP Entity ID</th><td id=\"idp-entity-id\">{idp_entity}</td></tr>\n\
         <tr><th>IdP logon URL</th><td id=\"idp-login-url\">{idp_login}</td></tr>\n\
         <tr><th>Source</th><td>{source}</td></tr></table>\n\
         <h4>Certificates</h4>\n{certs}\n\
         <h3>Configure Identity Provider</h3>\n\
         <h4>Upload metadata file</h4>\n\
         <form method=\"post\" action=\"{base}/idp/metadata\" enctype=\"multipart/form-data\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <label for=\"metadata-file\">Metadata file</label><br>\
         <input id=\"metadata-file\" name=\"metadata\" type=\"file\" accept=\".xml,application/xml,application/samlmetadata+xml\" required><br>\n\
         <button type=\"submit\">Upload metadata</button></form>\n\
         <h4>Manually configure</h4>\n\
         <form method=\"post\" action=\"{base}/idp/manual\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <label for=\"entity_id\">Entity ID</label><br><input id=\"entity_id\" name=\"entity_id\" size=\"60\"><br>\n\
         <label for=\"login_url\">Logon URL</label><br><input id=\"login_url\" name=\"login_url\" size=\"60\"><br>\n\
         <label for=\"x509_certificate\">Certificate (PEM)</label><br>\
         <textarea id=\"x509_certificate\" name=\"x509_certificate\" rows=\"6\" cols=\"64\"></textarea><br>\n\
         <p class=\"note\">Empty fields keep their current value; a certificate replaces the existing ones.</p>\n\
         <button type=\"submit\">Save IdP configuration</button></form>\n\
         <h4>Options</h4>\n\
         <form method=\"post\" action=\"{base}/options\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <label><input type=\"checkbox\" name=\"want_request_signed\" value=\"true\"{wrs}> WantRequestSigned (sign the SAML requests)</label><br>\n\
         <label for=\"binding_type\">BindingType</label> <select id=\"binding_type\" name=\"binding_type\">{post}{redirect}</select><br>\n\
         <button type=\"submit\">Save options</button></form>\n\
         <h4>Clear IdP</h4>\n{clear}\n{user_settings}",
        nav = header(console),
        name = esc(&d.name),
        id = esc(&d.id),
        portal = esc(&sp.portal_url),
        status_text = if info.sso_enabled {
            "Enabled"
        } else {
            "Disabled"
        },
        pw_text = if info.sso_enabled {
            "Disabled"
        } else {
            "Enabled"
        },
        acs = esc(&sp.acs_url),
        entity = esc(&sp.entity_id),
        idp_entity = opt(&info.entity_id),
        idp_login = opt(&info.login_url),
        source = if info.entity_id.is_none() {
            "—"
        } else if info.from_metadata {
            "uploaded metadata"
        } else {
            "manual configuration"
        },
        wrs = if info.want_request_signed {
            " checked"
        } else {
            ""
        },
        post = binding_option(BindingType::Post),
        redirect = binding_option(BindingType::Redirect),
        user_settings = user_settings,
    );
    page(status, "Settings", &body)
}

async fn settings(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    Query(q): Query<SettingsQuery>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let notice = q
        .done
        .as_deref()
        .and_then(done_message)
        .map(|m| (true, m.to_owned()));
    settings_page(&state, &console, &d, notice, StatusCode::OK).await
}

/// After a form: back to the settings page with a message, or the page with the error.
async fn outcome(
    state: &AppState,
    console: &ConsoleSession,
    d: &Directory,
    result: Result<(), Error>,
    done: &str,
) -> Response {
    match result {
        Ok(()) => see_other(
            &format!("/console/directories/{}/settings?done={done}", d.id),
            &[],
        ),
        Err(e) => {
            let api = api_error(e);
            if api.status.is_server_error() {
                return api.into_response();
            }
            settings_page(state, console, d, Some((false, api.message)), api.status).await
        }
    }
}

/// The parts of the metadata upload form.
#[derive(Debug, Default)]
struct MetadataParts {
    csrf: Option<String>,
    xml: Option<String>,
    entity_id: Option<String>,
}

async fn read_metadata_form(mut multipart: Multipart) -> Result<MetadataParts, String> {
    let mut parts = MetadataParts::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        format!("unreadable upload: {}", e.body_text())
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "csrf" => parts.csrf = Some(field.text().await.map_err(bad)?),
            "entity_id" => {
                let v = field.text().await.map_err(bad)?;
                parts.entity_id = Some(v).filter(|v| !v.trim().is_empty());
            }
            "metadata" => {
                let bytes = field.bytes().await.map_err(bad)?;
                if !bytes.is_empty() {
                    parts.xml = Some(
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| "the metadata file is not UTF-8 text".to_owned())?,
                    );
                }
            }
            // The chooser page re-posts the file it was given, base64-encoded.
            "metadata_b64" => {
                let text = field.text().await.map_err(bad)?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| "the metadata field is not base64".to_owned())?;
                parts.xml = Some(
                    String::from_utf8(bytes)
                        .map_err(|_| "the metadata file is not UTF-8 text".to_owned())?,
                );
            }
            _ => {}
        }
    }
    Ok(parts)
}

/// A file with several IdPs: which one? (a radio list re-posting the same file).
fn choose_page(console: &ConsoleSession, d: &Directory, xml: &str, ids: &[String]) -> Response {
    let mut radios = String::new();
    for (i, id) in ids.iter().enumerate() {
        radios.push_str(&format!(
            "<label><input type=\"radio\" name=\"entity_id\" value=\"{v}\"{checked} required> <code>{v}</code></label><br>\n",
            v = esc(id),
            checked = if i == 0 { " checked" } else { "" },
        ));
    }
    let body = format!(
        "{nav}<p>The metadata file describes {n} identity providers. Choose the one Cloud SSO should trust.</p>\n\
         <form method=\"post\" action=\"/console/directories/{id}/settings/idp/metadata\" enctype=\"multipart/form-data\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"metadata_b64\" value=\"{b64}\">\n{radios}\
         <button type=\"submit\">Use this identity provider</button> \
         <a href=\"/console/directories/{id}/settings\">Cancel</a></form>",
        nav = header(console),
        n = ids.len(),
        id = esc(&d.id),
        csrf = esc(&console.session.csrf_token),
        b64 = base64::engine::general_purpose::STANDARD.encode(xml),
    );
    page(StatusCode::OK, "Choose the identity provider", &body)
}

async fn upload_metadata(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let parts = match read_metadata_form(multipart).await {
        Ok(p) => p,
        Err(msg) => {
            return settings_page(
                &state,
                &console,
                &d,
                Some((false, msg)),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    if console.verify_csrf(parts.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    let Some(xml) = parts.xml else {
        return settings_page(
            &state,
            &console,
            &d,
            Some((false, "Choose a metadata file to upload.".to_owned())),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let result = state
        .configure_idp_from_metadata(&console.actor, &d.id, &xml, parts.entity_id.as_deref())
        .await;
    match result {
        Err(Error::ChooseIdentityProvider(ids)) => choose_page(&console, &d, &xml, &ids),
        r => outcome(&state, &console, &d, r.map(|_| ()), "metadata").await,
    }
}

/// The manual IdP form.
#[derive(Debug, Deserialize)]
struct ManualForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    entity_id: String,
    #[serde(default)]
    login_url: String,
    #[serde(default)]
    x509_certificate: String,
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

async fn configure_manual(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    Form(form): Form<ManualForm>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    let config = ManualIdpConfig {
        entity_id: non_empty(form.entity_id),
        login_url: non_empty(form.login_url),
        x509_certificate: non_empty(form.x509_certificate),
    };
    let r = state
        .configure_idp_manually(&console.actor, &d.id, config)
        .await
        .map(|_| ());
    outcome(&state, &console, &d, r, "manual").await
}

async fn clear_idp(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    let r = state.clear_idp(&console.actor, &d.id).await;
    outcome(&state, &console, &d, r, "cleared").await
}

/// The SSO switch: `sso_enabled` = `true`/`false`; without `confirm=yes` it shows the confirmation.
#[derive(Debug, Deserialize)]
struct SwitchForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    sso_enabled: String,
    #[serde(default)]
    confirm: Option<String>,
}

async fn switch_sso(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    Form(form): Form<SwitchForm>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    let enable = match form.sso_enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return settings_page(
                &state,
                &console,
                &d,
                Some((false, "sso_enabled must be true or false.".to_owned())),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    if form.confirm.as_deref() != Some("yes") {
        let (title, warning) = if enable {
            (
                "Enable SSO logon",
                "Enabling SSO disables username-password logon: users of this directory can then \
                 log on only through the identity provider, and their open portal sessions end.",
            )
        } else {
            (
                "Disable SSO logon",
                "Disabling SSO restores username-password logon: users log on with their Cloud SSO \
                 user name and password again, and their open portal sessions end.",
            )
        };
        let body = format!(
            "{nav}<p class=\"err\" role=\"alert\">{warning}</p>\n\
             <form method=\"post\" action=\"/console/directories/{id}/settings/sso\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"sso_enabled\" value=\"{v}\">\
             <input type=\"hidden\" name=\"confirm\" value=\"yes\">\
             <button type=\"submit\">OK</button> <a href=\"/console/directories/{id}/settings\">Cancel</a></form>",
            nav = header(&console),
            id = esc(&d.id),
            csrf = esc(&console.session.csrf_token),
            v = if enable { "true" } else { "false" },
        );
        return page(StatusCode::OK, title, &body);
    }
    let r = state
        .update_sso_settings(
            &console.actor,
            &d.id,
            SsoSettingsPatch {
                sso_enabled: Some(enable),
                ..Default::default()
            },
        )
        .await
        .map(|_| ());
    outcome(
        &state,
        &console,
        &d,
        r,
        if enable { "sso_on" } else { "sso_off" },
    )
    .await
}

/// WantRequestSigned (a checkbox: absent = off) and BindingType.
#[derive(Debug, Deserialize)]
struct OptionsForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    want_request_signed: Option<String>,
    #[serde(default)]
    binding_type: String,
}

async fn save_options(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    Form(form): Form<OptionsForm>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    let Some(binding) = BindingType::parse(&form.binding_type) else {
        return settings_page(
            &state,
            &console,
            &d,
            Some((false, "BindingType must be Post or Redirect.".to_owned())),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let r = state
        .update_sso_settings(
            &console.actor,
            &d.id,
            SsoSettingsPatch {
                want_request_signed: Some(form.want_request_signed.is_some()),
                binding_type: Some(binding),
                ..Default::default()
            },
        )
        .await
        .map(|_| ());
    outcome(&state, &console, &d, r, "options").await
}

// ---- Settings > User Settings: SCIM synchronization (products.md §2.3) ------------------------

/// The "User Settings" section of the settings page: the SCIM switch with the endpoint to copy,
/// the credentials and the button generating a new one.
async fn user_settings_section(
    state: &AppState,
    d: &Directory,
    base: &str,
    csrf: &str,
) -> Result<String, Error> {
    let sync = state.get_scim_synchronization(&d.id).await?;
    let creds = state.list_scim_credentials(&d.id).await?;
    let now = state.now();
    let mut rows = String::new();
    for c in &creds {
        let id = esc(&c.credential_id);
        let (toggle_label, toggle_action) = match c.status {
            ScimCredentialStatus::Enabled => ("Disable", "disable"),
            ScimCredentialStatus::Disabled => ("Enable", "enable"),
        };
        let status = if c.is_expired(now) {
            format!("{} (expired)", c.status.as_str())
        } else {
            c.status.as_str().to_owned()
        };
        let button = |action: &str, label: &str| {
            format!(
                "<form method=\"post\" action=\"{base}/scim/credentials/{id}/{action}\" style=\"display:inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">{label}</button></form>"
            )
        };
        rows.push_str(&format!(
            "<tr class=\"scim-credential\"><td><code>{id}</code></td><td>BearerToken</td><td>{status}</td><td>{created}</td>\
             <td>{expires}</td><td>{used}</td><td>{toggle} {rotate} {delete}</td></tr>\n",
            status = esc(&status),
            created = esc(&when(c.created_at)),
            expires = esc(&when(c.expires_at)),
            used = c.last_used_at.map_or_else(|| "never".to_owned(), |t| esc(&when(t))),
            toggle = button(toggle_action, toggle_label),
            rotate = if creds.len() < 2 {
                button("rotate", "Rotate")
            } else {
                String::new()
            },
            delete = button("delete", "Delete"),
        ));
    }
    let table = if creds.is_empty() {
        "<p>No SCIM credential.</p>".to_owned()
    } else {
        format!(
            "<table><tr><th>Credential ID</th><th>Type</th><th>Status</th><th>Created</th><th>Expires</th>\
             <th>Last used</th><th></th></tr>\n{rows}</table>"
        )
    };
    let generate = if creds.len() >= 2 {
        "<p class=\"note\">A directory has at most two SCIM credentials: delete one to generate a new one.</p>"
            .to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"{base}/scim/credentials\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Generate New SCIM Credential</button></form>"
        )
    };
    let (label, value) = if sync.enabled {
        ("Disable SCIM synchronization", "false")
    } else {
        ("Enable SCIM synchronization", "true")
    };
    Ok(format!(
        "<h2>User Settings</h2>\n<h3>SCIM User Synchronization Configuration</h3>\n\
         <p>SCIM synchronization: <strong id=\"scim-status\">{status}</strong></p>\n\
         <form method=\"post\" action=\"{base}/scim\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"scim_enabled\" value=\"{value}\"><button type=\"submit\">{label}</button></form>\n\
         <p class=\"note\">While SCIM synchronization is on, users and groups synchronized by SCIM are read-only here \
         (password reset and enabling or disabling logon excepted). After turning it off they are editable; \
         turning it on again lets the next sync roll such edits back.</p>\n\
         <table><tr><th>SCIM Endpoint</th><td><code id=\"scim-endpoint\">{endpoint}</code></td></tr></table>\n\
         <h4>SCIM credentials</h4>\n{table}\n{generate}\n\
         <p class=\"note\">To rotate: generate a second credential, switch the identity provider to it, then delete the \
         old one (Rotate does the first step and disables the old credential).</p>",
        status = if sync.enabled { "Enabled" } else { "Disabled" },
        endpoint = esc(&sync.scim_endpoint),
    ))
}

/// The SCIM switch: `scim_enabled` = `true`/`false`.
#[derive(Debug, Deserialize)]
struct ScimSwitchForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    scim_enabled: String,
}

async fn switch_scim(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    Form(form): Form<ScimSwitchForm>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    let enable = match form.scim_enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            return settings_page(
                &state,
                &console,
                &d,
                Some((false, "scim_enabled must be true or false.".to_owned())),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let r = state
        .set_scim_synchronization(&console.actor, &d.id, enable)
        .await
        .map(|_| ());
    outcome(
        &state,
        &console,
        &d,
        r,
        if enable { "scim_on" } else { "scim_off" },
    )
    .await
}

/// The page showing a new secret, once.
fn secret_page(
    console: &ConsoleSession,
    d: &Directory,
    created: &CreatedScimCredential,
    replaced: Option<&str>,
) -> Response {
    let replaced = replaced
        .map(|r| {
            format!(
                "<p>Credential <code>{}</code> is now disabled: delete it once the identity provider uses the new one.</p>\n",
                esc(r)
            )
        })
        .unwrap_or_default();
    let body = format!(
        "{nav}<p class=\"err\" role=\"alert\">Copy the secret now: it is shown only once and cannot be queried later.</p>\n\
         <table><tr><th>Credential ID</th><td><code id=\"scim-credential-id\">{id}</code></td></tr>\n\
         <tr><th>Credential secret</th><td><code id=\"scim-secret\">{secret}</code></td></tr>\n\
         <tr><th>Expires</th><td>{expires}</td></tr></table>\n{replaced}\
         <p><a href=\"/console/directories/{dir}/settings\">Back to the settings</a></p>",
        nav = header(console),
        id = esc(&created.credential.credential_id),
        secret = esc(&created.credential_secret),
        expires = esc(&when(created.credential.expires_at)),
        dir = esc(&d.id),
    );
    page(StatusCode::OK, "SCIM credential generated", &body)
}

async fn generate_scim_credential(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    match state.create_scim_credential(&console.actor, &d.id).await {
        Ok(created) => secret_page(&console, &d, &created, None),
        Err(e) => outcome(&state, &console, &d, Err(e), "").await,
    }
}

async fn scim_credential_action(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path((id, credential_id, action)): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    let actor = &console.actor;
    let r = match action.as_str() {
        "enable" | "disable" => {
            let status = if action == "enable" {
                ScimCredentialStatus::Enabled
            } else {
                ScimCredentialStatus::Disabled
            };
            state
                .set_scim_credential_status(actor, &d.id, &credential_id, status)
                .await
                .map(|_| ())
        }
        "delete" => {
            state
                .delete_scim_credential(actor, &d.id, &credential_id)
                .await
        }
        "rotate" => {
            return match state
                .rotate_scim_credential(actor, &d.id, &credential_id)
                .await
            {
                Ok(r) => secret_page(&console, &d, &r.created, Some(&r.replaced.credential_id)),
                Err(e) => outcome(&state, &console, &d, Err(e), "").await,
            };
        }
        _ => Err(Error::NotFound("action")),
    };
    let done = format!("scim_{action}");
    outcome(&state, &console, &d, r, &done).await
}

// ---- users and groups (read-only rules of Synchronized objects) --------------------------------

/// The "Synchronized" badge, and whether the object is read-only here.
fn provision_cell(d: &Directory, provision_type: ProvisionType) -> (String, bool) {
    let read_only = d.synchronized_read_only(provision_type);
    let badge = match provision_type {
        ProvisionType::Synchronized => {
            "<span class=\"badge\" title=\"Created by SCIM synchronization\">Synchronized</span>"
        }
        ProvisionType::Manual => "Manual",
    };
    (badge.to_owned(), read_only)
}

/// A one-button form.
fn button_form(action: &str, csrf: &str, label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" style=\"display:inline\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">{label}</button></form>"
    )
}

fn list_notice(q: &SettingsQuery) -> String {
    let text = match q.done.as_deref() {
        Some("enabled") => "The user's logon was enabled.",
        Some("disabled") => "The user's logon was disabled.",
        Some("deleted") => "Deleted.",
        _ => return String::new(),
    };
    format!("<p class=\"note\" role=\"status\">{text}</p>\n")
}

fn scim_note(d: &Directory) -> &'static str {
    if d.scim_enabled {
        "<p class=\"note\">SCIM synchronization is on: Synchronized objects are read-only (logon can still be \
         enabled or disabled and passwords reset).</p>\n"
    } else {
        ""
    }
}

/// Most rows a console list page shows.
const CONSOLE_LIST_MAX: usize = 1000;

/// The first pages of a keyset-paged list, up to [`CONSOLE_LIST_MAX`] rows (pages of 100, so at
/// most 99 beyond it): `list` is called with each next token until the list ends.
async fn first_pages<T, F>(
    mut list: impl FnMut(Option<String>) -> F,
) -> crate::error::Result<Vec<T>>
where
    F: std::future::Future<Output = crate::error::Result<(Vec<T>, Option<String>)>>,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (page, next) = list(token.take()).await?;
        items.extend(page);
        match next {
            Some(next) if items.len() < CONSOLE_LIST_MAX => token = Some(next),
            _ => return Ok(items),
        }
    }
}

async fn users_page(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    Query(q): Query<SettingsQuery>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    list_users_page(&state, &console, &d, &list_notice(&q), StatusCode::OK).await
}

async fn list_users_page(
    state: &AppState,
    console: &ConsoleSession,
    d: &Directory,
    notice: &str,
    status: StatusCode,
) -> Response {
    let users = match first_pages(|token: Option<String>| async move {
        state.list_users(&d.id, None, 100, token.as_deref()).await
    })
    .await
    {
        Ok(items) => items,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let csrf = esc(&console.session.csrf_token);
    let base = format!("/console/directories/{}/users", esc(&d.id));
    let mut rows = String::new();
    for u in &users {
        let (badge, read_only) = provision_cell(d, u.provision_type);
        let uid = esc(&u.id);
        let toggle = match u.status {
            UserStatus::Enabled => {
                button_form(&format!("{base}/{uid}/disable"), &csrf, "Disable logon")
            }
            UserStatus::Disabled => {
                button_form(&format!("{base}/{uid}/enable"), &csrf, "Enable logon")
            }
        };
        let delete = if read_only {
            String::new()
        } else {
            button_form(&format!("{base}/{uid}/delete"), &csrf, "Delete")
        };
        rows.push_str(&format!(
            "<tr class=\"user\" data-user-id=\"{uid}\"><td>{name}</td><td>{display}</td><td>{email}</td><td>{status}</td>\
             <td>{badge}</td><td>{toggle} {delete}</td></tr>\n",
            name = esc(&u.user_name),
            display = esc(&u.display_name),
            email = esc(u.email.as_deref().unwrap_or("")),
            status = u.status.as_str(),
        ));
    }
    let body = format!(
        "{nav}{notice}<p>Directory <strong>{name}</strong> · <a href=\"/console/directories/{id}/groups\">Groups</a> · \
         <a href=\"/console/directories/{id}/settings\">Settings</a></p>\n{scim}\
         <table><tr><th>User name</th><th>Display name</th><th>E-mail</th><th>Logon</th><th>Provision type</th><th></th></tr>\n\
         {rows}</table>",
        nav = header(console),
        name = esc(&d.name),
        id = esc(&d.id),
        scim = scim_note(d),
    );
    page(status, "Users", &body)
}

async fn user_action(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path((id, user_id, action)): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    let status = |s| UserPatch {
        status: Some(s),
        ..Default::default()
    };
    let (r, done) = match action.as_str() {
        "enable" => (
            state
                .update_user(&console.actor, &d.id, &user_id, status(UserStatus::Enabled))
                .await
                .map(|_| ()),
            "enabled",
        ),
        "disable" => (
            state
                .update_user(
                    &console.actor,
                    &d.id,
                    &user_id,
                    status(UserStatus::Disabled),
                )
                .await
                .map(|_| ()),
            "disabled",
        ),
        "delete" => (
            state.delete_user(&console.actor, &d.id, &user_id).await,
            "deleted",
        ),
        _ => (Err(Error::NotFound("action")), ""),
    };
    match r {
        Ok(()) => see_other(
            &format!("/console/directories/{}/users?done={done}", d.id),
            &[],
        ),
        Err(e) => {
            let api = api_error(e);
            if api.status.is_server_error() {
                return api.into_response();
            }
            let notice = format!(
                "<p class=\"err\" role=\"alert\">{}</p>\n",
                esc(&api.message)
            );
            list_users_page(&state, &console, &d, &notice, api.status).await
        }
    }
}

async fn groups_page(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path(id): Path<String>,
    Query(q): Query<SettingsQuery>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    list_groups_page(&state, &console, &d, &list_notice(&q), StatusCode::OK).await
}

async fn list_groups_page(
    state: &AppState,
    console: &ConsoleSession,
    d: &Directory,
    notice: &str,
    status: StatusCode,
) -> Response {
    let groups = match first_pages(|token: Option<String>| async move {
        state.list_groups(&d.id, None, 100, token.as_deref()).await
    })
    .await
    {
        Ok(items) => items,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let csrf = esc(&console.session.csrf_token);
    let base = format!("/console/directories/{}/groups", esc(&d.id));
    let mut rows = String::new();
    for g in &groups {
        let (badge, read_only) = provision_cell(d, g.provision_type);
        let gid = esc(&g.id);
        let members = match state.list_group_members(&d.id, &g.id).await {
            Ok(m) => m,
            Err(e) => return ApiError::from(e).into_response(),
        };
        let delete = if read_only {
            String::new()
        } else {
            button_form(&format!("{base}/{gid}/delete"), &csrf, "Delete")
        };
        rows.push_str(&format!(
            "<tr class=\"group\" data-group-id=\"{gid}\"><td>{name}</td><td>{description}</td><td>{n}</td>\
             <td>{badge}</td><td>{delete}</td></tr>\n",
            name = esc(&g.name),
            description = esc(&g.description),
            n = members.len(),
        ));
    }
    let body = format!(
        "{nav}{notice}<p>Directory <strong>{name}</strong> · <a href=\"/console/directories/{id}/users\">Users</a> · \
         <a href=\"/console/directories/{id}/settings\">Settings</a></p>\n{scim}\
         <table><tr><th>Group name</th><th>Description</th><th>Members</th><th>Provision type</th><th></th></tr>\n\
         {rows}</table>",
        nav = header(console),
        name = esc(&d.name),
        id = esc(&d.id),
        scim = scim_note(d),
    );
    page(status, "Groups", &body)
}

async fn delete_group(
    State(state): State<AppState>,
    console: ConsoleSession,
    Path((id, group_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let d = match directory(&state, &console, &id).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if console.verify_csrf(form.csrf.as_deref()).is_err() {
        return csrf_refused();
    }
    match state.delete_group(&console.actor, &d.id, &group_id).await {
        Ok(()) => see_other(
            &format!("/console/directories/{}/groups?done=deleted", d.id),
            &[],
        ),
        Err(e) => {
            let api = api_error(e);
            if api.status.is_server_error() {
                return api.into_response();
            }
            let notice = format!(
                "<p class=\"err\" role=\"alert\">{}</p>\n",
                esc(&api.message)
            );
            list_groups_page(&state, &console, &d, &notice, api.status).await
        }
    }
}
