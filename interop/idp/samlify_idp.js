#!/usr/bin/env node
// A SAML 2.0 IdP we did not write: samlify's IdentityProvider (signatures by xml-crypto).
//
// Used by crates/cloudsso/tests/it/idp_interop.rs to check that the Cloud SSO SP accepts Responses
// from a third-party IdP after its metadata is uploaded. Same interface as pysaml2_idp.py; see
// interop/idp/README.md. Dependencies: interop/node_modules (`npm ci` in interop/).
//
//   samlify_idp.js metadata --key K --cert C --entity-id E --sso-url U
//       prints the IdP metadata (XML) on stdout.
//
//   samlify_idp.js respond --key K --cert C --entity-id E --sso-url U
//       (--sp-metadata FILE | --sp-entity-id ID --acs-url URL)
//       --name-id VALUE [--name-id-format URN]
//       [--in-response-to ID | --authn-request VALUE --binding post|redirect]
//       [--sign-response]
//       prints JSON {"saml_response": base64, "in_response_to": ID or null, "destination", "audience"}.
//
// The assertion is always signed (RSA-SHA256, SHA-256 digests): the SP entity is built with
// wantAssertionsSigned (our SP metadata says WantAssertionsSigned="true" anyway); --sign-response
// sets wantMessageSigned so samlify signs the Response too. With --authn-request, samlify's
// parseLoginRequest parses the SP's AuthnRequest (schema-validated, see below) and the Response
// answers it (InResponseTo = the request's ID).
//
// Schema validator: samlify refuses to parse anything until a validator is set. We use
// @authenio/samlify-node-xmllint (libxml2 compiled to JS, the SAML XSDs bundled), which works
// offline and validates the inbound AuthnRequest for real; it is only used on input we receive
// (AuthnRequests), never on the Responses we produce.
//
// Response template: samlify's default login-response template has no AuthnStatement (the SAML
// Web SSO profile, saml-profiles §4.1.4.2, requires one, and our SP does) and renders an unsolicited
// Response with InResponseTo="" (an empty NCName). Real samlify IdPs pass their own template through
// createLoginResponse's customTagReplacement; this harness does the same: the default template with
// an AuthnStatement, and InResponseTo omitted when there is no request.
//
// Exit code 0 on success, 2 on any error (reason on stderr).
'use strict';

const fs = require('fs');
const { parseArgs } = require('util');
const samlify = require('samlify');
const validator = require('@authenio/samlify-node-xmllint');

const { binding: BINDING, format: NAMEID_FORMAT } = samlify.Constants.namespace;
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const PPT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
const AUTHN_STATEMENT =
  '<saml:AuthnStatement AuthnInstant="{AuthnInstant}" SessionIndex="{SessionIndex}">' +
  '<saml:AuthnContext><saml:AuthnContextClassRef>{AuthnContextClassRef}</saml:AuthnContextClassRef>' +
  '</saml:AuthnContext></saml:AuthnStatement>';
const ATTRIBUTE_STATEMENT =
  '<saml:AttributeStatement><saml:Attribute Name="mail" ' +
  'NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">' +
  '<saml:AttributeValue xsi:type="xs:string">{Mail}</saml:AttributeValue>' +
  '</saml:Attribute></saml:AttributeStatement>';

samlify.setSchemaValidator(validator);

function options() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      key: { type: 'string' },
      cert: { type: 'string' },
      'entity-id': { type: 'string' },
      'sso-url': { type: 'string' },
      'sp-metadata': { type: 'string' },
      'sp-entity-id': { type: 'string' },
      'acs-url': { type: 'string' },
      'name-id': { type: 'string' },
      'name-id-format': { type: 'string', default: NAMEID_FORMAT.unspecified },
      'in-response-to': { type: 'string' },
      'authn-request': { type: 'string' },
      binding: { type: 'string', default: 'post' },
      'sign-response': { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1 || !['metadata', 'respond'].includes(positionals[0])) {
    throw new Error('usage: samlify_idp.js metadata|respond --key K --cert C --entity-id E --sso-url U ...');
  }
  for (const required of ['key', 'cert', 'entity-id', 'sso-url']) {
    if (!values[required]) throw new Error(`--${required} is required`);
  }
  if (!['post', 'redirect'].includes(values.binding)) throw new Error('--binding must be post or redirect');
  return { command: positionals[0], opts: values };
}

function identityProvider(opts) {
  return samlify.IdentityProvider({
    entityID: opts['entity-id'],
    privateKey: fs.readFileSync(opts.key, 'utf8'),
    signingCert: fs.readFileSync(opts.cert, 'utf8'),
    requestSignatureAlgorithm: RSA_SHA256,
    wantAuthnRequestsSigned: false,
    nameIDFormat: [opts['name-id-format']],
    singleSignOnService: [
      { Binding: BINDING.redirect, Location: opts['sso-url'] },
      { Binding: BINDING.post, Location: opts['sso-url'] },
    ],
  });
}

function serviceProvider(opts) {
  const common = { wantAssertionsSigned: true, wantMessageSigned: opts['sign-response'] };
  if (opts['sp-metadata']) {
    return samlify.ServiceProvider({ ...common, metadata: fs.readFileSync(opts['sp-metadata'], 'utf8') });
  }
  if (!opts['sp-entity-id'] || !opts['acs-url']) {
    throw new Error('--sp-metadata or both --sp-entity-id and --acs-url are required');
  }
  return samlify.ServiceProvider({
    ...common,
    entityID: opts['sp-entity-id'],
    assertionConsumerService: [{ Binding: BINDING.post, Location: opts['acs-url'] }],
  });
}

async function respond(opts) {
  if (!opts['name-id']) throw new Error('--name-id is required');
  const idp = identityProvider(opts);
  const sp = serviceProvider(opts);
  let inResponseTo = opts['in-response-to'] || null;
  if (opts['authn-request']) {
    const req =
      opts.binding === 'redirect'
        ? { query: { SAMLRequest: opts['authn-request'] } }
        : { body: { SAMLRequest: opts['authn-request'] } };
    const parsed = await idp.parseLoginRequest(sp, opts.binding, req);
    const request = parsed.extract.request || {};
    if (!request.id) throw new Error('the AuthnRequest has no ID');
    if (parsed.extract.issuer !== sp.entityMeta.getEntityID()) {
      throw new Error(`AuthnRequest Issuer ${parsed.extract.issuer} is not the SP ${sp.entityMeta.getEntityID()}`);
    }
    const acs = request.assertionConsumerServiceUrl;
    if (acs && acs !== sp.entityMeta.getAssertionConsumerService('post')) {
      throw new Error(`AuthnRequest ACS URL ${acs} is not the SP's`);
    }
    inResponseTo = request.id;
  }
  const destination = sp.entityMeta.getAssertionConsumerService('post');
  const audience = sp.entityMeta.getEntityID();
  if (!destination || !audience) throw new Error('the SP has no entity ID or no HTTP-POST ACS');
  const libsaml = samlify.SamlLib;
  const now = new Date();
  const later = new Date(now.getTime() + 5 * 60 * 1000).toISOString();
  const id = idp.entitySetting.generateID();
  const template = (base) => {
    const context = libsaml.replaceTagsByValue(
      base.replace('{AuthnStatement}', AUTHN_STATEMENT).replace('{AttributeStatement}', ATTRIBUTE_STATEMENT),
      {
        ID: id,
        AssertionID: idp.entitySetting.generateID(),
        Destination: destination,
        Audience: audience,
        SubjectRecipient: destination,
        Issuer: idp.entityMeta.getEntityID(),
        IssueInstant: now.toISOString(),
        StatusCode: samlify.Constants.StatusCode.Success,
        ConditionsNotBefore: now.toISOString(),
        ConditionsNotOnOrAfter: later,
        SubjectConfirmationDataNotOnOrAfter: later,
        NameIDFormat: opts['name-id-format'],
        NameID: opts['name-id'],
        InResponseTo: inResponseTo,
        AuthnInstant: now.toISOString(),
        SessionIndex: idp.entitySetting.generateID(),
        AuthnContextClassRef: PPT,
        Mail: opts['name-id'],
      },
    );
    return { id, context };
  };
  const requestInfo = inResponseTo ? { extract: { request: { id: inResponseTo } } } : {};
  const user = { email: opts['name-id'] };
  const out = await idp.createLoginResponse(sp, requestInfo, 'post', user, template);
  return { saml_response: out.context, in_response_to: inResponseTo, destination, audience };
}

async function main() {
  const { command, opts } = options();
  if (command === 'metadata') {
    process.stdout.write(identityProvider(opts).getMetadata());
  } else {
    process.stdout.write(JSON.stringify(await respond(opts)) + '\n');
  }
}

main().catch((err) => {
  process.stderr.write(`samlify_idp: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
