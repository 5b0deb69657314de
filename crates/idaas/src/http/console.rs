//! Minimal admin console pages for Step 1 of the Cloud SSO guide: Applications list, Add Application
//! (marketplace search, confirm name, Add), the application's Sign-on > Single Sign-On tab with Save,
//! and the metadata download link. Server-rendered forms with the session's CSRF token.
//! Post/Redirect/Get: a successful POST answers 303 See Other to the tab with a notice flag
//! (`?created=1`, `?saved=1`, `?converted=1`); refused input re-renders the form with the submitted
//! values and the error (422).

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::ConsoleAdmin;
use super::signin::{message, render, see_other};
use super::{ApiResult, AppState};
use crate::application::{
    AccountField, AccountMapping, ApplicationUpdate, AuthorizationType, InitLoginType,
    NameIdFormat, SourceType, Status,
};
use crate::error::Error;
use crate::marketplace::{self, FormField, Template as AppTemplate};

/// Routes of this area (merged by [`crate::http::router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/i/{iid}/console/apps", get(apps).post(create))
        .route("/i/{iid}/console/apps/marketplace", get(marketplace_page))
        .route("/i/{iid}/console/apps/new", get(new_app))
        .route(
            "/i/{iid}/console/apps/{app_id}/sso",
            get(sso_tab).post(sso_save),
        )
        .route("/i/{iid}/console/apps/{app_id}/convert", post(convert))
}

/// OpenAPI paths of this area (HTML pages only).
#[derive(Debug, utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;

struct AppRow {
    id: String,
    name: String,
    template: String,
    status: &'static str,
    sso_status: &'static str,
}

#[derive(Template)]
#[template(path = "console_apps.html")]
struct AppsPage<'a> {
    instance_id: &'a str,
    apps: Vec<AppRow>,
}

async fn apps(State(state): State<AppState>, ConsoleAdmin(s): ConsoleAdmin) -> ApiResult<Response> {
    let apps = state
        .list_applications(&s.instance.id, None)
        .await?
        .into_iter()
        .map(|a| AppRow {
            template: a
                .template_id
                .as_deref()
                .and_then(marketplace::find)
                .map(|t| t.name.to_owned())
                .unwrap_or_default(),
            status: a.status.label(),
            sso_status: a.sso_status.label(),
            id: a.id,
            name: a.name,
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &AppsPage {
            instance_id: &s.instance.id,
            apps,
        },
    ))
}

#[derive(Template)]
#[template(path = "console_marketplace.html")]
struct MarketplacePage<'a> {
    instance_id: &'a str,
    query: &'a str,
    templates: Vec<&'static AppTemplate>,
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn marketplace_page(ConsoleAdmin(s): ConsoleAdmin, Query(q): Query<SearchQuery>) -> Response {
    let query = q.q.unwrap_or_default();
    render(
        StatusCode::OK,
        &MarketplacePage {
            instance_id: &s.instance.id,
            query: &query,
            templates: marketplace::search(&query),
        },
    )
}

#[derive(Template)]
#[template(path = "console_new_app.html")]
struct NewAppPage<'a> {
    instance_id: &'a str,
    csrf: &'a str,
    template_id: &'a str,
    template_name: &'a str,
    name: &'a str,
    error: &'a str,
}

#[derive(Debug, Deserialize)]
struct NewQuery {
    template_id: Option<String>,
}

async fn new_app(ConsoleAdmin(s): ConsoleAdmin, Query(q): Query<NewQuery>) -> Response {
    let Some(t) = q.template_id.as_deref().and_then(marketplace::find) else {
        return unknown_template();
    };
    render(
        StatusCode::OK,
        &NewAppPage {
            instance_id: &s.instance.id,
            csrf: &s.session.csrf_token,
            template_id: t.id,
            template_name: t.name,
            name: t.name,
            error: "",
        },
    )
}

fn unknown_template() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Unknown template",
        "This marketplace template does not exist.",
    )
}

fn unknown_app() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Unknown application",
        "This application does not exist.",
    )
}

/// The Single Sign-On tab of an application, with a one-shot notice flag (`?saved=1`, …).
fn tab_url(instance_id: &str, app_id: &str, flag: &str) -> String {
    format!("/i/{instance_id}/console/apps/{app_id}/sso?{flag}=1")
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    template_id: String,
    name: Option<String>,
}

/// Add: on success 303 to the new application's Single Sign-On tab (`?created=1`); an invalid
/// name shows the form again with what was typed (422).
async fn create(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Form(form): Form<CreateForm>,
) -> ApiResult<Response> {
    admin.verify_csrf(Some(&form.csrf))?;
    let s = &admin.0;
    let Some(template) = marketplace::find(&form.template_id) else {
        return Ok(unknown_template());
    };
    let result = state
        .create_application(
            &s.instance,
            &s.actor,
            crate::application::NewApplication {
                template_id: form.template_id.clone(),
                name: form.name.clone(),
            },
        )
        .await;
    match result {
        Ok(app) => Ok(see_other(&tab_url(&s.instance.id, &app.id, "created"))),
        Err(Error::Invalid(e)) => Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &NewAppPage {
                instance_id: &s.instance.id,
                csrf: &s.session.csrf_token,
                template_id: template.id,
                template_name: template.name,
                name: form.name.as_deref().unwrap_or(""),
                error: &e.to_string(),
            },
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "console_app.html")]
struct SsoTab<'a> {
    instance_id: &'a str,
    app_id: &'a str,
    app_name: &'a str,
    csrf: &'a str,
    notice: &'a str,
    error: &'a str,
    metadata_url: String,
    idp_entity_id: String,
    sso_url: String,
    sso_enabled: bool,
    acs_label: &'a str,
    entity_label: &'a str,
    account_label: &'a str,
    acs_url: &'a str,
    sp_entity_id: &'a str,
    account_options: Vec<(&'static str, &'static str)>,
    account_value: &'static str,
    standard: bool,
    format_options: Vec<(&'static str, &'static str)>,
    name_id_format: &'static str,
    default_relay_state: &'a str,
    idp_initiated: bool,
    init_login_url: &'a str,
    all_users: bool,
}

const ACCOUNT_OPTIONS: [(&str, &str); 5] = [
    ("username", "IDaaS account name"),
    ("email", "IDaaS email address"),
    ("app_account", "Application account"),
    (
        "app_account_or_username",
        "Application account, else IDaaS account name",
    ),
    (
        "app_account_or_email",
        "Application account, else IDaaS email address",
    ),
];

fn account_value(m: &AccountMapping) -> &'static str {
    match m {
        AccountMapping::IdaasAccount {
            field: AccountField::Username,
        } => "username",
        AccountMapping::IdaasAccount {
            field: AccountField::Email,
        } => "email",
        AccountMapping::ApplicationAccount => "app_account",
        AccountMapping::PrimaryApplicationAccount {
            fallback: AccountField::Username,
        } => "app_account_or_username",
        AccountMapping::PrimaryApplicationAccount {
            fallback: AccountField::Email,
        } => "app_account_or_email",
        AccountMapping::Expression { .. } => "expression",
    }
}

fn account_json(value: &str) -> Option<serde_json::Value> {
    Some(match value {
        "username" => serde_json::json!({"type": "idaas_account", "field": "username"}),
        "email" => serde_json::json!({"type": "idaas_account", "field": "email"}),
        "app_account" => serde_json::json!({"type": "application_account"}),
        "app_account_or_username" => {
            serde_json::json!({"type": "primary_application_account", "fallback": "username"})
        }
        "app_account_or_email" => {
            serde_json::json!({"type": "primary_application_account", "fallback": "email"})
        }
        _ => return None,
    })
}

/// Renders the Single Sign-On tab from the stored application, or (after a refused Save) with the
/// values the admin submitted in `submitted`.
async fn show_tab(
    state: &AppState,
    admin: &ConsoleAdmin,
    app_id: &str,
    notice: &str,
    error: &str,
    submitted: Option<&SsoForm>,
    status: StatusCode,
) -> ApiResult<Response> {
    let s = &admin.0;
    let app = match state.get_application(&s.instance.id, app_id).await {
        Ok(a) => a,
        Err(Error::NotFound(_)) => return Ok(unknown_app()),
        Err(e) => return Err(e.into()),
    };
    let base = state.instance_base_url(&s.instance);
    let template = app.template_id.as_deref().and_then(marketplace::find);
    let standard = app.source_type == SourceType::Standard;
    let label = |f: FormField, default: &'static str| {
        if standard {
            default
        } else {
            template.and_then(|t| t.label(f)).unwrap_or(default)
        }
    };
    let mut account_options: Vec<_> = ACCOUNT_OPTIONS.to_vec();
    if matches!(
        app.saml.application_account,
        AccountMapping::Expression { .. }
    ) {
        account_options.push(("expression", "Expression (set through the API)"));
    }
    let mut tab = SsoTab {
        instance_id: &s.instance.id,
        app_id: &app.id,
        app_name: &app.name,
        csrf: &s.session.csrf_token,
        notice,
        error,
        metadata_url: crate::application::default_idp_entity_id(&base, &app.id),
        idp_entity_id: app.saml.idp_entity_id_or_default(&base, &app.id),
        sso_url: crate::application::sso_url(&base, &app.id),
        sso_enabled: app.sso_status == Status::Enabled,
        acs_label: label(FormField::AcsUrl, "ACS URL"),
        entity_label: label(FormField::SpEntityId, "SP Entity ID"),
        account_label: label(
            FormField::ApplicationAccount,
            "Application account (NameID value)",
        ),
        acs_url: app.saml.acs_url.as_deref().unwrap_or(""),
        sp_entity_id: app.saml.sp_entity_id.as_deref().unwrap_or(""),
        account_options,
        account_value: account_value(&app.saml.application_account),
        standard,
        format_options: NameIdFormat::ALL
            .iter()
            .map(|f| (f.uri(), f.label()))
            .collect(),
        name_id_format: app.saml.name_id_format.uri(),
        default_relay_state: app.saml.default_relay_state.as_deref().unwrap_or(""),
        idp_initiated: app.saml.init_login_type == InitLoginType::IdaasOrAppInitSso,
        init_login_url: app.saml.init_login_url.as_deref().unwrap_or(""),
        all_users: app.authorization_type == AuthorizationType::DefaultAll,
    };
    if let Some(f) = submitted {
        tab.sso_enabled = f.sso_enabled.is_some();
        tab.acs_url = &f.acs_url;
        tab.sp_entity_id = &f.sp_entity_id;
        if let Some(v) = tab
            .account_options
            .iter()
            .map(|o| o.0)
            .find(|v| *v == f.application_account)
        {
            tab.account_value = v;
        }
        if let Some(nf) = f.name_id_format.as_deref().and_then(NameIdFormat::from_uri) {
            tab.name_id_format = nf.uri();
        }
        if let Some(rs) = &f.default_relay_state {
            tab.default_relay_state = rs;
        }
        match f.init_login_type.as_deref() {
            Some("idaas_or_app_init_sso") => tab.idp_initiated = true,
            Some("only_app_init_sso") => tab.idp_initiated = false,
            _ => {}
        }
        if let Some(url) = &f.init_login_url {
            tab.init_login_url = url;
        }
        match f.authorization_type.as_str() {
            "default_all" => tab.all_users = true,
            "authorize_required" => tab.all_users = false,
            _ => {}
        }
    }
    Ok(render(status, &tab))
}

/// One-shot notices of the tab, set by the redirect after a successful POST.
#[derive(Debug, Default, Deserialize)]
struct TabQuery {
    saved: Option<String>,
    converted: Option<String>,
    created: Option<String>,
}

impl TabQuery {
    fn notice(&self) -> &'static str {
        if self.saved.is_some() {
            "Saved."
        } else if self.converted.is_some() {
            "Converted to the standard SAML template."
        } else if self.created.is_some() {
            "Application added. Configure its single sign-on below."
        } else {
            ""
        }
    }
}

async fn sso_tab(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((_, app_id)): Path<(String, String)>,
    query: Result<Query<TabQuery>, QueryRejection>,
) -> ApiResult<Response> {
    // A malformed query only loses the notice.
    let notice = query.map(|q| q.0.notice()).unwrap_or("");
    show_tab(&state, &admin, &app_id, notice, "", None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct SsoForm {
    #[serde(default)]
    csrf: String,
    sso_enabled: Option<String>,
    #[serde(default)]
    acs_url: String,
    #[serde(default)]
    sp_entity_id: String,
    #[serde(default)]
    application_account: String,
    name_id_format: Option<String>,
    default_relay_state: Option<String>,
    init_login_type: Option<String>,
    init_login_url: Option<String>,
    #[serde(default)]
    authorization_type: String,
}

async fn sso_save(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((_, app_id)): Path<(String, String)>,
    Form(form): Form<SsoForm>,
) -> ApiResult<Response> {
    admin.verify_csrf(Some(&form.csrf))?;
    let s = &admin.0;
    let mut saml =
        serde_json::json!({ "acs_url": form.acs_url, "sp_entity_id": form.sp_entity_id });
    if let Some(account) = account_json(&form.application_account) {
        saml["application_account"] = account;
    }
    if let Some(f) = form
        .name_id_format
        .as_deref()
        .and_then(NameIdFormat::from_uri)
    {
        saml["name_id_format"] = serde_json::json!(f.uri());
    }
    if let Some(rs) = &form.default_relay_state {
        saml["default_relay_state"] = serde_json::json!(rs);
    }
    if let Some(t @ ("idaas_or_app_init_sso" | "only_app_init_sso")) =
        form.init_login_type.as_deref()
    {
        saml["init_login_type"] = serde_json::json!(t);
    }
    if let Some(url) = &form.init_login_url {
        saml["init_login_url"] = serde_json::json!(url);
    }
    let authorization_type = match form.authorization_type.as_str() {
        "default_all" => Some(AuthorizationType::DefaultAll),
        "authorize_required" => Some(AuthorizationType::AuthorizeRequired),
        _ => None,
    };
    let update = ApplicationUpdate {
        name: None,
        authorization_type,
        saml: Some(saml),
    };
    let sso = if form.sso_enabled.is_some() {
        Status::Enabled
    } else {
        Status::Disabled
    };
    let result = async {
        state
            .update_application(&s.instance, &s.actor, &app_id, update)
            .await?;
        state
            .set_sso_status(&s.instance, &s.actor, &app_id, sso)
            .await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&tab_url(&s.instance.id, &app_id, "saved"))),
        Err(Error::Invalid(e)) => {
            show_tab(
                &state,
                &admin,
                &app_id,
                "",
                &e.to_string(),
                Some(&form),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(Error::NotFound(_)) => Ok(unknown_app()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn convert(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((_, app_id)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> ApiResult<Response> {
    admin.verify_csrf(Some(&form.csrf))?;
    let s = &admin.0;
    match state
        .convert_to_standard(&s.instance, &s.actor, &app_id)
        .await
    {
        Ok(_) => Ok(see_other(&tab_url(&s.instance.id, &app_id, "converted"))),
        Err(Error::Invalid(e)) => {
            show_tab(
                &state,
                &admin,
                &app_id,
                "",
                &e.to_string(),
                None,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(Error::NotFound(_)) => Ok(unknown_app()),
        Err(e) => Err(e.into()),
    }
}
