//! Minimal admin console pages for Step 1 of the Cloud SSO guide: Applications list, Add Application
//! (marketplace search, confirm name, Add), the application's Sign-on > Single Sign-On tab with Save,
//! and the metadata download link. Server-rendered forms with the session's CSRF token.

use askama::Template;
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
    AccountField, AccountMapping, ApplicationUpdate, AuthorizationType, NameIdFormat, SourceType,
    Status,
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
            status: a.status.as_str(),
            sso_status: a.sso_status.as_str(),
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
}

#[derive(Debug, Deserialize)]
struct NewQuery {
    template_id: Option<String>,
}

async fn new_app(ConsoleAdmin(s): ConsoleAdmin, Query(q): Query<NewQuery>) -> Response {
    let Some(t) = q.template_id.as_deref().and_then(marketplace::find) else {
        return message(
            StatusCode::NOT_FOUND,
            "Unknown template",
            "This marketplace template does not exist.",
        );
    };
    render(
        StatusCode::OK,
        &NewAppPage {
            instance_id: &s.instance.id,
            csrf: &s.session.csrf_token,
            template_id: t.id,
            template_name: t.name,
        },
    )
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    template_id: String,
    name: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Form(form): Form<CreateForm>,
) -> ApiResult<Response> {
    admin.verify_csrf(Some(&form.csrf))?;
    let s = &admin.0;
    let app = state
        .create_application(
            &s.instance,
            &s.actor,
            crate::application::NewApplication {
                template_id: form.template_id,
                name: form.name,
            },
        )
        .await?;
    Ok(see_other(&format!(
        "/i/{}/console/apps/{}/sso",
        s.instance.id, app.id
    )))
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

async fn show_tab(
    state: &AppState,
    admin: &ConsoleAdmin,
    app_id: &str,
    notice: &str,
    error: &str,
    status: StatusCode,
) -> ApiResult<Response> {
    let s = &admin.0;
    let app = match state.get_application(&s.instance.id, app_id).await {
        Ok(a) => a,
        Err(Error::NotFound(_)) => {
            return Ok(message(
                StatusCode::NOT_FOUND,
                "Unknown application",
                "This application does not exist.",
            ));
        }
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
    let tab = SsoTab {
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
        all_users: app.authorization_type == AuthorizationType::DefaultAll,
    };
    Ok(render(status, &tab))
}

async fn sso_tab(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    Path((_, app_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    show_tab(&state, &admin, &app_id, "", "", StatusCode::OK).await
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
    match state
        .update_application(&s.instance, &s.actor, &app_id, update)
        .await
    {
        Ok(_) => {}
        Err(Error::Invalid(e)) => {
            return show_tab(
                &state,
                &admin,
                &app_id,
                "",
                &e.to_string(),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    }
    let sso = if form.sso_enabled.is_some() {
        Status::Enabled
    } else {
        Status::Disabled
    };
    state
        .set_sso_status(&s.instance, &s.actor, &app_id, sso)
        .await?;
    show_tab(&state, &admin, &app_id, "Saved.", "", StatusCode::OK).await
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
        Ok(_) => {
            show_tab(
                &state,
                &admin,
                &app_id,
                "Converted to the standard SAML template.",
                "",
                StatusCode::OK,
            )
            .await
        }
        Err(Error::Invalid(e)) => {
            show_tab(
                &state,
                &admin,
                &app_id,
                "",
                &e.to_string(),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
