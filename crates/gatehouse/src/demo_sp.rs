//! The demo SAML service provider that `gatehouse up` runs beside IDaaS, so the demo's SAML
//! application works end to end in a browser: "Sign in with Gatehouse" sends an AuthnRequest
//! (HTTP-Redirect), and the ACS validates the signed Response with the `saml` crate's SP-side
//! validator (the same rules Cloud SSO uses) and shows what it received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use saml::algorithm::AlgorithmPolicy;
use saml::authn_request::AuthnRequest;
use saml::binding::{MessageParam, decode_post, encode_redirect, html_escape};
use saml::metadata::parse_idp_metadata;
use saml::response::{SpExpectations, validate_response};
use time::{Duration, OffsetDateTime};

/// Where the demo SP lives and which IdP it trusts.
#[derive(Debug, Clone)]
pub struct DemoSp {
    /// Base URL (`http://127.0.0.1:8099`).
    pub base_url: String,
    /// The IdP metadata URL of the demo application.
    pub idp_metadata_url: String,
    /// Our SP entity ID.
    pub entity_id: String,
}

#[derive(Debug)]
struct SpState {
    sp: DemoSp,
    http: reqwest::Client,
    /// Outstanding AuthnRequest IDs → when they expire.
    pending: Mutex<HashMap<String, OffsetDateTime>>,
    /// Replay cache: assertion IDs → keep until.
    seen: Mutex<HashMap<String, OffsetDateTime>>,
}

/// Serves the demo SP on `listener` until the task is aborted.
pub async fn serve(listener: tokio::net::TcpListener, sp: DemoSp) {
    let state = Arc::new(SpState {
        sp,
        http: reqwest::Client::new(),
        pending: Mutex::new(HashMap::new()),
        seen: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/acs", post(acs))
        .route("/metadata", get(metadata))
        .with_state(state);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "demo SP stopped");
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = html_escape(title)
    ))
}

async fn home() -> Html<String> {
    page(
        "Gatehouse demo SP",
        "<p>A SAML 2.0 service provider for trying Gatehouse IDaaS.</p>\
         <p><a id=\"signin\" href=\"/login\">Sign in with Gatehouse</a></p>",
    )
}

async fn metadata(State(st): State<Arc<SpState>>) -> Response {
    let acs = format!("{}/acs", st.sp.base_url);
    let xml = format!(
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"{}\">\
         <md:SPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\" WantAssertionsSigned=\"true\">\
         <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"{}\" index=\"0\" isDefault=\"true\"/>\
         </md:SPSSODescriptor></md:EntityDescriptor>",
        html_escape(&st.sp.entity_id),
        html_escape(&acs)
    );
    (
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        xml,
    )
        .into_response()
}

async fn idp(st: &SpState) -> Result<saml::metadata::IdpDescriptorInfo, String> {
    let text = st
        .http
        .get(&st.sp.idp_metadata_url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("cannot fetch IdP metadata: {e}"))?
        .text()
        .await
        .map_err(|e| format!("cannot read IdP metadata: {e}"))?;
    parse_idp_metadata(&text)
        .map_err(|e| format!("bad IdP metadata: {e}"))?
        .into_iter()
        .next()
        .ok_or_else(|| "the IdP metadata names no IdP".to_owned())
}

/// What the browser is told when a Response is refused (details are logged).
const REJECTED: &str = "The sign-in response was not accepted. Start again from the home page.";

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        page(
            "Sign-in failed",
            &format!(
                "<p>{}</p><p><a href=\"/\">Back</a></p>",
                html_escape(message)
            ),
        ),
    )
        .into_response()
}

async fn login(State(st): State<Arc<SpState>>) -> Response {
    let idp = match idp(&st).await {
        Ok(i) => i,
        Err(e) => return error_page(StatusCode::BAD_GATEWAY, &e),
    };
    let Some(sso) = idp.sso_redirect_url() else {
        return error_page(
            StatusCode::BAD_GATEWAY,
            "the IdP has no HTTP-Redirect SSO endpoint",
        );
    };
    let now = OffsetDateTime::now_utc();
    let id = format!("_{}", hex::encode(rand::random::<[u8; 16]>()));
    let request = AuthnRequest {
        id: id.clone(),
        issue_instant: now,
        destination: Some(sso.to_owned()),
        issuer: st.sp.entity_id.clone(),
        assertion_consumer_service_url: Some(format!("{}/acs", st.sp.base_url)),
        assertion_consumer_service_index: None,
        protocol_binding: Some(saml::metadata::BINDING_HTTP_POST.to_owned()),
        force_authn: false,
        is_passive: false,
        name_id_policy: None,
        requested_authn_context: None,
        has_enveloped_signature: false,
    };
    let query = match encode_redirect(MessageParam::Request, &request.to_xml(), None, None) {
        Ok(q) => q,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    if let Ok(mut p) = st.pending.lock() {
        p.retain(|_, until| *until > now);
        p.insert(id, now + Duration::minutes(10));
    }
    let sep = if sso.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{sso}{sep}{query}")).into_response()
}

#[derive(serde::Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// The InResponseTo of the (not yet verified) Response, used only to find our pending request;
/// the validator then checks it against the signed assertion.
fn claimed_in_response_to(xml: &str) -> Option<String> {
    let doc = saml::xml::reader::parse(xml, &saml::xml::reader::Limits::default()).ok()?;
    doc.root_element()
        .attribute("InResponseTo")
        .map(str::to_owned)
}

async fn acs(State(st): State<Arc<SpState>>, Form(form): Form<AcsForm>) -> Response {
    let xml = match decode_post(&form.saml_response) {
        Ok(x) => x,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &format!("bad SAMLResponse: {e}")),
    };
    let idp = match idp(&st).await {
        Ok(i) => i,
        Err(e) => return error_page(StatusCode::BAD_GATEWAY, &e),
    };
    let now = OffsetDateTime::now_utc();
    let pending = claimed_in_response_to(&xml).filter(|id| {
        st.pending
            .lock()
            .map(|mut p| p.remove(id).is_some_and(|until| until > now))
            .unwrap_or(false)
    });
    let acs_url = format!("{}/acs", st.sp.base_url);
    let expectations = SpExpectations {
        idp_entity_id: &idp.entity_id,
        sp_entity_id: &st.sp.entity_id,
        acs_url: &acs_url,
        trusted_certs: &idp.signing_certs,
        policy: AlgorithmPolicy::default(),
        now,
        max_skew: Duration::minutes(3),
        expected_in_response_to: pending.as_deref(),
        allow_unsolicited: true,
        require_signed_assertion: false,
        decryption_keys: &[],
    };
    // The reason goes to the log only: the browser learns nothing that would help forge a
    // better Response (saml-defense.md rule 7).
    let assertion = match validate_response(&xml, &expectations) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "demo SP rejected a SAML Response");
            return error_page(StatusCode::FORBIDDEN, REJECTED);
        }
    };
    if let Ok(mut seen) = st.seen.lock() {
        seen.retain(|_, until| *until > now);
        if seen
            .insert(assertion.assertion_id.clone(), assertion.replay_cache_until)
            .is_some()
        {
            tracing::warn!(assertion_id = %assertion.assertion_id, "demo SP refused a replayed assertion");
            return error_page(StatusCode::FORBIDDEN, REJECTED);
        }
    }
    let mut rows = String::new();
    let mut row = |k: &str, v: &str| {
        rows.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            html_escape(k),
            html_escape(v)
        ));
    };
    row("NameID", &assertion.name_id.value);
    row("NameID format", &assertion.name_id.format);
    row("Issuer", &assertion.issuer);
    row(
        "SessionIndex",
        assertion.session_index.as_deref().unwrap_or(""),
    );
    row(
        "AuthnContextClassRef",
        assertion.authn_context_class_ref.as_deref().unwrap_or(""),
    );
    row(
        "Flow",
        if pending.is_some() {
            "SP-initiated (InResponseTo checked)"
        } else {
            "IdP-initiated"
        },
    );
    row(
        "Signed",
        match (assertion.signed.response, assertion.signed.assertion) {
            (true, true) => "response and assertion",
            (true, false) => "response",
            _ => "assertion",
        },
    );
    row("RelayState", form.relay_state.as_deref().unwrap_or(""));
    for a in &assertion.attributes {
        row(&format!("attribute {}", a.name), &a.values.join(", "));
    }
    page(
        "Signed in",
        &format!(
            "<p id=\"welcome\">Welcome, {}.</p><table>{rows}</table><p><a href=\"/\">Home</a></p>",
            html_escape(&assertion.name_id.value)
        ),
    )
    .into_response()
}
