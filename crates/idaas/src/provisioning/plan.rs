//! The reconciliation plan of a full sync ("Push Now"): a pure function over the desired state
//! (scope + mapping), what was pushed (`provisioning_objects`/`provisioning_memberships`) and the
//! target's listing, producing one action per user, group and group membership. Also the engine's
//! view of an application's configuration ([`AppProfile`]) and the loaders of the desired state.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::config::{Action, Compatibility, DeprovisionMode, ProvisioningConfig};
use super::deliver::Cx;
use super::mapping::{self, RenderError};
use super::scope;
use crate::error::{Error, Result};
use crate::services::Services;
use crate::store::{self, provisioning_map::PushedObject};
use crate::user::User;

/// The engine's view of an application's provisioning configuration.
#[derive(Debug, Clone)]
pub struct AppProfile {
    /// Application.
    pub app_id: String,
    /// Instance.
    pub instance_id: String,
    /// Provisioning switched on.
    pub enabled: bool,
    /// SCIM base URL.
    pub base_url: String,
    /// AWS IAM Identity Center compatibility profile.
    pub aws: bool,
    /// Deprovision by `active: false` instead of DELETE.
    pub deprovision_disable: bool,
    /// The target is known to keep userName immutable (Cloud SSO): a userName change replaces
    /// the remote account instead of a PUT that would be refused.
    pub immutable_user_name: bool,
    /// Attempts before dead-lettering.
    pub max_attempts: i64,
    /// `User:CREATE`.
    pub user_create: bool,
    /// `User:UPDATE`.
    pub user_update: bool,
    /// `User:DELETE` (deprovisioning, by delete or disable).
    pub user_delete: bool,
    /// `Group:CREATE`.
    pub group_create: bool,
    /// `Group:UPDATE` (attributes and members).
    pub group_update: bool,
    /// `Group:DELETE`.
    pub group_delete: bool,
    /// The full configuration (scope and mapping, for rendering).
    pub config: ProvisioningConfig,
}

impl AppProfile {
    /// The profile of a configuration.
    pub fn from_config(c: &ProvisioningConfig) -> Self {
        Self {
            app_id: c.app_id.clone(),
            instance_id: c.instance_id.clone(),
            enabled: c.enabled,
            base_url: c.base_url.clone(),
            aws: c.compatibility == Compatibility::AwsIamIdentityCenter,
            deprovision_disable: c.deprovision_mode == DeprovisionMode::Disable,
            immutable_user_name: false,
            max_attempts: i64::from(c.max_attempts.max(1)),
            user_create: c.actions.contains(Action::UserCreate),
            user_update: c.actions.contains(Action::UserUpdate),
            user_delete: c.actions.contains(Action::UserDelete),
            group_create: c.actions.contains(Action::GroupCreate),
            group_update: c.actions.contains(Action::GroupUpdate),
            group_delete: c.actions.contains(Action::GroupDelete),
            config: c.clone(),
        }
    }

    /// Whether groups are pushed at all.
    pub fn groups_enabled(&self) -> bool {
        self.group_create || self.group_update || self.group_delete
    }
}

/// A user as it should be on the target.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredUser {
    /// Local id.
    pub id: String,
    /// userName as rendered.
    pub user_name: String,
    /// externalId as rendered.
    pub external_id: Option<String>,
    /// `active` as rendered.
    pub active: bool,
    /// The SCIM resource.
    pub resource: Value,
    /// Its state hash.
    pub hash: String,
    /// Local ids of the in-scope groups the user belongs to.
    pub groups: Vec<String>,
}

/// A group as it should be on the target (members tracked separately).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredGroup {
    /// Local id.
    pub id: String,
    /// displayName.
    pub display_name: String,
    /// externalId.
    pub external_id: Option<String>,
    /// The SCIM resource without members.
    pub resource: Value,
    /// Hash of the resource without members.
    pub hash: String,
    /// Local ids of its in-scope members.
    pub members: Vec<String>,
}

impl DesiredUser {
    /// Builds from a rendered resource.
    pub fn from_resource(id: &str, resource: Value, groups: Vec<String>) -> Self {
        Self {
            id: id.to_owned(),
            user_name: resource["userName"].as_str().unwrap_or_default().to_owned(),
            external_id: resource["externalId"].as_str().map(str::to_owned),
            active: resource["active"].as_bool().unwrap_or(true),
            hash: super::mapping::state_hash(&resource),
            resource,
            groups,
        }
    }
}

impl DesiredGroup {
    /// Builds from a rendered resource (its members are dropped: see `members`).
    pub fn from_resource(id: &str, mut resource: Value, members: Vec<String>) -> Self {
        if let Some(o) = resource.as_object_mut() {
            o.remove("members");
        }
        Self {
            id: id.to_owned(),
            display_name: resource["displayName"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            external_id: resource["externalId"].as_str().map(str::to_owned),
            hash: super::mapping::state_hash(&resource),
            resource,
            members,
        }
    }
}

/// The target's current state as listed.
#[derive(Debug, Clone, Default)]
pub struct Remote {
    /// Every remote user.
    pub users: Vec<Value>,
    /// Every remote group.
    pub groups: Vec<Value>,
    /// Member ids per remote group id (read from the listing, or by the fallback probes).
    pub members: HashMap<String, BTreeSet<String>>,
}

/// What was pushed before.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    /// Pushed users.
    pub users: Vec<PushedObject>,
    /// Pushed groups.
    pub groups: Vec<PushedObject>,
}

/// The planned action for one user or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectAction {
    /// POST it.
    Create,
    /// Replace it (drifted); the remote id.
    Update(String),
    /// Up to date.
    Same(String),
    /// Adopt the existing remote object (and update it when `drift`).
    Bind {
        /// Remote id.
        remote_id: String,
        /// Its attributes differ from the desired ones.
        drift: bool,
    },
    /// Delete it (left the scope or deleted locally).
    Delete(String),
    /// Disable it (deprovision mode `disable`).
    Disable(String),
    /// Leave it (action off, or nothing to push); the reason.
    Skip(&'static str),
}

impl ObjectAction {
    /// The planned-action name stored by a dry run.
    pub fn as_str(&self) -> &'static str {
        match self {
            ObjectAction::Create => "create",
            ObjectAction::Update(_) => "update",
            ObjectAction::Same(_) => "same",
            ObjectAction::Bind { .. } => "bind",
            ObjectAction::Delete(_) => "delete",
            ObjectAction::Disable(_) => "disable",
            ObjectAction::Skip(_) => "skip",
        }
    }

    /// The remote id once the action is applied, when known in advance.
    pub fn remote_id(&self) -> Option<&str> {
        match self {
            ObjectAction::Update(r) | ObjectAction::Same(r) => Some(r),
            ObjectAction::Bind { remote_id, .. } => Some(remote_id),
            _ => None,
        }
    }

    /// Whether the object will exist on the target afterwards.
    pub fn keeps(&self) -> bool {
        matches!(
            self,
            ObjectAction::Create
                | ObjectAction::Update(_)
                | ObjectAction::Same(_)
                | ObjectAction::Bind { .. }
        )
    }
}

/// One planned user or group.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedObject {
    /// Local id.
    pub id: String,
    /// userName / displayName.
    pub name: String,
    /// What to do.
    pub action: ObjectAction,
}

/// The membership changes of one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlannedMembers {
    /// Local group id.
    pub group_id: String,
    /// Group displayName.
    pub group_name: String,
    /// Local user ids to add (their remote ids are known once users are applied).
    pub add: Vec<String>,
    /// Remote user ids to remove, with a display name (local id or the remote id).
    pub remove: Vec<(String, String)>,
    /// Memberships already right.
    pub same: i64,
    /// The group's members after applying: local user ids.
    pub after: Vec<String>,
}

/// A full-sync plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// One entry per desired or previously pushed user.
    pub users: Vec<PlannedObject>,
    /// One entry per desired or previously pushed group.
    pub groups: Vec<PlannedObject>,
    /// Membership changes per kept group.
    pub members: Vec<PlannedMembers>,
}

impl Plan {
    /// Number of operations (objects + membership changes + unchanged memberships).
    pub fn total(&self) -> i64 {
        let m: i64 = self
            .members
            .iter()
            .map(|m| (m.add.len() + m.remove.len()) as i64 + m.same)
            .sum();
        (self.users.len() + self.groups.len()) as i64 + m
    }
}

fn str_eq(a: &Value, b: &Value, case_insensitive: bool) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) if case_insensitive => x.eq_ignore_ascii_case(y),
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Whether a remote resource differs from the desired one on the attributes the desired one sets.
/// Attributes the target does not return are not counted (some targets drop what they do not
/// store), except `userName`/`displayName`.
pub fn drifted(desired: &Value, remote: &Value) -> bool {
    let (Some(d), Some(r)) = (desired.as_object(), remote.as_object()) else {
        return true;
    };
    for (k, dv) in d {
        if matches!(
            k.as_str(),
            "schemas" | "id" | "meta" | "groups" | "members" | "password"
        ) {
            continue;
        }
        let Some(rv) = r.get(k).filter(|v| !v.is_null()) else {
            if k == "userName" || k == "displayName" {
                return true;
            }
            continue;
        };
        let differs = match (dv, rv) {
            (Value::Object(_), Value::Object(_)) => drifted(dv, rv),
            (Value::Array(da), Value::Array(ra)) => {
                let set = |a: &Vec<Value>| -> BTreeSet<String> {
                    a.iter()
                        .map(|e| {
                            e.get("value")
                                .and_then(Value::as_str)
                                .map(str::to_lowercase)
                                .unwrap_or_else(|| e.to_string())
                        })
                        .collect()
                };
                set(da) != set(ra)
            }
            _ => !str_eq(dv, rv, k == "userName"),
        };
        if differs {
            return true;
        }
    }
    false
}

/// Remote resources by id, by lower-cased key (userName/displayName) and by externalId.
type Index<'a> = HashMap<String, &'a Value>;

fn index_remote<'a>(items: &'a [Value], key_attr: &str) -> (Index<'a>, Index<'a>, Index<'a>) {
    let mut by_id = HashMap::new();
    let mut by_key = HashMap::new();
    let mut by_ext = HashMap::new();
    for v in items {
        if let Some(id) = v["id"].as_str() {
            by_id.insert(id.to_owned(), v);
        }
        if let Some(k) = v[key_attr].as_str() {
            by_key.entry(k.to_lowercase()).or_insert(v);
        }
        if let Some(x) = v["externalId"].as_str() {
            by_ext.entry(x.to_owned()).or_insert(v);
        }
    }
    (by_id, by_key, by_ext)
}

/// Computes the plan (pure).
pub fn plan(
    profile: &AppProfile,
    users: &[DesiredUser],
    groups: &[DesiredGroup],
    pushed: &Pushed,
    remote: &Remote,
) -> Plan {
    let mut out = Plan::default();
    let (ru_by_id, ru_by_name, ru_by_ext) = index_remote(&remote.users, "userName");
    let pushed_users: HashMap<&str, &PushedObject> = pushed
        .users
        .iter()
        .map(|p| (p.object_id.as_str(), p))
        .collect();
    // Users.
    let desired_ids: BTreeSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    for d in users {
        let p = pushed_users.get(d.id.as_str());
        let on_target = p.and_then(|p| ru_by_id.get(&p.remote_id).copied());
        let action = if let (Some(p), Some(r)) = (p, on_target) {
            let drift = d.hash != p.state_hash || d.active != p.active || drifted(&d.resource, r);
            if !drift {
                ObjectAction::Same(p.remote_id.clone())
            } else if profile.user_update {
                ObjectAction::Update(p.remote_id.clone())
            } else {
                ObjectAction::Skip("user update is not enabled")
            }
        } else {
            let found = ru_by_name
                .get(&d.user_name.to_lowercase())
                .or_else(|| d.external_id.as_ref().and_then(|x| ru_by_ext.get(x)))
                .copied()
                .filter(|r| r["id"].as_str().is_some_and(|id| !claimed.contains(id)));
            match found {
                Some(r) if profile.user_create || profile.user_update => ObjectAction::Bind {
                    remote_id: r["id"].as_str().unwrap_or_default().to_owned(),
                    drift: drifted(&d.resource, r),
                },
                Some(_) => ObjectAction::Skip("user create is not enabled"),
                None if !d.active => ObjectAction::Skip("disabled and not on the target"),
                None if profile.user_create => ObjectAction::Create,
                None => ObjectAction::Skip("user create is not enabled"),
            }
        };
        if let Some(r) = action.remote_id() {
            claimed.insert(r.to_owned());
        }
        out.users.push(PlannedObject {
            id: d.id.clone(),
            name: d.user_name.clone(),
            action,
        });
    }
    for p in &pushed.users {
        if desired_ids.contains(p.object_id.as_str()) {
            continue;
        }
        let remote = ru_by_id.get(&p.remote_id);
        let action = if !profile.user_delete {
            ObjectAction::Skip("user deprovisioning is not enabled")
        } else if profile.deprovision_disable {
            let remote_active = remote.map(|r| r["active"].as_bool().unwrap_or(true));
            match remote_active {
                None => ObjectAction::Delete(p.remote_id.clone()), // gone already: forget it
                Some(true) => ObjectAction::Disable(p.remote_id.clone()),
                Some(false) if p.active => ObjectAction::Disable(p.remote_id.clone()),
                Some(false) => ObjectAction::Same(p.remote_id.clone()),
            }
        } else {
            ObjectAction::Delete(p.remote_id.clone())
        };
        out.users.push(PlannedObject {
            id: p.object_id.clone(),
            name: p.remote_key.clone(),
            action,
        });
    }
    if !profile.groups_enabled() {
        return out;
    }
    // Groups.
    let (rg_by_id, rg_by_name, rg_by_ext) = index_remote(&remote.groups, "displayName");
    let pushed_groups: HashMap<&str, &PushedObject> = pushed
        .groups
        .iter()
        .map(|p| (p.object_id.as_str(), p))
        .collect();
    let desired_gids: BTreeSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    let mut claimed_groups: BTreeSet<String> = BTreeSet::new();
    for d in groups {
        let p = pushed_groups.get(d.id.as_str());
        let on_target = p.and_then(|p| rg_by_id.get(&p.remote_id).copied());
        let action = if let (Some(p), Some(r)) = (p, on_target) {
            let drift = d.hash != p.state_hash || drifted(&d.resource, r);
            if !drift {
                ObjectAction::Same(p.remote_id.clone())
            } else if profile.group_update {
                ObjectAction::Update(p.remote_id.clone())
            } else {
                ObjectAction::Skip("group update is not enabled")
            }
        } else {
            let found = rg_by_name
                .get(&d.display_name.to_lowercase())
                .or_else(|| d.external_id.as_ref().and_then(|x| rg_by_ext.get(x)))
                .copied()
                .filter(|r| {
                    r["id"]
                        .as_str()
                        .is_some_and(|id| !claimed_groups.contains(id))
                });
            match found {
                Some(r) if profile.group_create || profile.group_update => ObjectAction::Bind {
                    remote_id: r["id"].as_str().unwrap_or_default().to_owned(),
                    drift: drifted(&d.resource, r),
                },
                Some(_) => ObjectAction::Skip("group create is not enabled"),
                None if profile.group_create => ObjectAction::Create,
                None => ObjectAction::Skip("group create is not enabled"),
            }
        };
        if let Some(r) = action.remote_id() {
            claimed_groups.insert(r.to_owned());
        }
        out.groups.push(PlannedObject {
            id: d.id.clone(),
            name: d.display_name.clone(),
            action,
        });
    }
    for p in &pushed.groups {
        if desired_gids.contains(p.object_id.as_str()) {
            continue;
        }
        let action = if profile.group_delete {
            ObjectAction::Delete(p.remote_id.clone())
        } else {
            ObjectAction::Skip("group delete is not enabled")
        };
        out.groups.push(PlannedObject {
            id: p.object_id.clone(),
            name: p.remote_key.clone(),
            action,
        });
    }
    // Memberships of kept groups. Remote user ids map back to local ids through the user plan.
    let mut local_of_remote: HashMap<&str, &str> = HashMap::new();
    let mut user_kept_active: BTreeMap<&str, bool> = BTreeMap::new();
    for (i, u) in out.users.iter().enumerate() {
        if let Some(r) = u.action.remote_id() {
            local_of_remote.insert(r, u.id.as_str());
        }
        let active = users.get(i).is_some_and(|d| d.id == u.id && d.active);
        user_kept_active.insert(u.id.as_str(), u.action.keeps() && active);
    }
    for p in &pushed.users {
        local_of_remote
            .entry(p.remote_id.as_str())
            .or_insert(p.object_id.as_str());
    }
    if !(profile.group_update || profile.group_create) {
        return out;
    }
    for (d, planned) in groups.iter().zip(out.groups.iter()) {
        if !planned.action.keeps() {
            continue;
        }
        let want: BTreeSet<&str> = d
            .members
            .iter()
            .map(String::as_str)
            .filter(|u| user_kept_active.get(u).copied().unwrap_or(false))
            .collect();
        let empty = BTreeSet::new();
        let current: &BTreeSet<String> = planned
            .action
            .remote_id()
            .and_then(|r| remote.members.get(r))
            .unwrap_or(&empty);
        let mut have: BTreeSet<&str> = BTreeSet::new();
        let mut remove = Vec::new();
        for rid in current {
            match local_of_remote.get(rid.as_str()) {
                Some(local) if want.contains(local) => {
                    have.insert(local);
                }
                Some(local) => remove.push((rid.clone(), (*local).to_owned())),
                None => remove.push((rid.clone(), rid.clone())),
            }
        }
        let add: Vec<String> = want
            .iter()
            .filter(|u| !have.contains(*u))
            .map(|u| (*u).to_owned())
            .collect();
        out.members.push(PlannedMembers {
            group_id: d.id.clone(),
            group_name: d.display_name.clone(),
            add,
            remove,
            same: have.len() as i64,
            after: want.iter().map(|u| (*u).to_owned()).collect(),
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Loading the desired state (scope + mapping) and the profile.

/// The provisioning profile of an application, `None` when provisioning was never configured.
pub async fn load_profile(services: &Services, app_id: &str) -> Result<Option<AppProfile>> {
    let mut conn = services.store.read().await?;
    let Some(cfg) =
        store::provisioning_config::get(&mut conn, &services.master_key, app_id).await?
    else {
        return Ok(None);
    };
    let mut profile = AppProfile::from_config(&cfg);
    let template = store::application::get(&mut conn, &cfg.instance_id, app_id)
        .await?
        .and_then(|a| a.template_id);
    profile.immutable_user_name = template.as_deref() == Some(crate::marketplace::CLOUD_SSO);
    Ok(Some(profile))
}

fn render_error(user: &User, e: RenderError) -> Error {
    Error::invalid("attribute_mapping", format!("user {}: {e}", user.username))
}

/// The desired state of one user: `Ok(None)` when deleted or out of scope.
pub async fn desired_user(cx: &Cx, user_id: &str) -> Result<Option<DesiredUser>> {
    let cfg = &cx.profile.config;
    let mut conn = cx.services.store.read().await?;
    if !scope::user_in_scope(&mut conn, cfg, user_id).await? {
        return Ok(None);
    }
    let Some(user) = store::user::get(&mut conn, &cfg.instance_id, user_id).await? else {
        return Ok(None);
    };
    let ctx = mapping::load_context(&mut conn, &cfg.app_id, &user).await?;
    let resource = mapping::render_user(cfg, &user, &ctx).map_err(|e| render_error(&user, e))?;
    let groups = ctx
        .attributes
        .groups
        .iter()
        .filter(|g| scope::group_in_scope(cfg, &g.id))
        .map(|g| g.id.clone())
        .collect();
    Ok(Some(DesiredUser::from_resource(&user.id, resource, groups)))
}

/// The desired state of one group: `Ok(None)` when deleted or out of scope.
pub async fn desired_group(cx: &Cx, group_id: &str) -> Result<Option<DesiredGroup>> {
    let cfg = &cx.profile.config;
    if !scope::group_in_scope(cfg, group_id) {
        return Ok(None);
    }
    let mut conn = cx.services.store.read().await?;
    let Some(group) = store::group::get(&mut conn, &cfg.instance_id, group_id).await? else {
        return Ok(None);
    };
    let members = scope::group_members_in_scope(&mut conn, cfg, group_id).await?;
    let resource = mapping::render_group(cfg, &group, &[]);
    Ok(Some(DesiredGroup::from_resource(
        &group.id, resource, members,
    )))
}

/// The whole desired state: users in scope (rendered), groups in scope with their members.
/// Users whose mapping yields no userName are returned apart, with the error.
pub async fn desired_all(
    services: &Services,
    profile: &AppProfile,
) -> Result<(
    Vec<DesiredUser>,
    Vec<DesiredGroup>,
    Vec<(String, String, String)>,
)> {
    let cfg = &profile.config;
    let mut conn = services.store.read().await?;
    let users = scope::users_in_scope(&mut conn, cfg).await?;
    let contexts = mapping::load_contexts(&mut conn, &cfg.app_id, &cfg.instance_id, &users).await?;
    let groups = if profile.groups_enabled() {
        scope::groups_in_scope(&mut conn, cfg).await?
    } else {
        Vec::new()
    };
    let memberships = if profile.groups_enabled() {
        scope::group_memberships_in_scope(&mut conn, cfg).await?
    } else {
        Vec::new()
    };
    let mut by_user: HashMap<&str, Vec<String>> = HashMap::new();
    let mut by_group: HashMap<&str, Vec<String>> = HashMap::new();
    for (g, u) in &memberships {
        by_user.entry(u.as_str()).or_default().push(g.clone());
        by_group.entry(g.as_str()).or_default().push(u.clone());
    }
    let mut out_users = Vec::with_capacity(users.len());
    let mut failed = Vec::new();
    let empty = mapping::RenderContext::default();
    for u in &users {
        let ctx = contexts.get(&u.id).unwrap_or(&empty);
        match mapping::render_user(cfg, u, ctx) {
            Ok(resource) => out_users.push(DesiredUser::from_resource(
                &u.id,
                resource,
                by_user.remove(u.id.as_str()).unwrap_or_default(),
            )),
            Err(e) => failed.push((u.id.clone(), u.username.clone(), e.to_string())),
        }
    }
    let out_groups = groups
        .iter()
        .map(|g| {
            DesiredGroup::from_resource(
                &g.id,
                mapping::render_group(cfg, g, &[]),
                by_group.remove(g.id.as_str()).unwrap_or_default(),
            )
        })
        .collect();
    Ok((out_users, out_groups, failed))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::provisioning::config::{Actions, ProvisioningConfig};

    fn profile(disable: bool) -> AppProfile {
        let mut c = ProvisioningConfig::defaults("app_1", "inst_1", None, 0);
        c.actions = Actions::all();
        if disable {
            c.deprovision_mode = DeprovisionMode::Disable;
        }
        AppProfile::from_config(&c)
    }

    fn user(id: &str, name: &str) -> DesiredUser {
        DesiredUser::from_resource(
            id,
            json!({"userName": name, "externalId": id, "active": true, "displayName": name}),
            vec![],
        )
    }

    fn pushed(id: &str, rid: &str, key: &str, hash: &str) -> PushedObject {
        PushedObject {
            app_id: "app_1".into(),
            object_type: "user".into(),
            object_id: id.into(),
            remote_id: rid.into(),
            remote_key: key.into(),
            state_hash: hash.into(),
            active: true,
            synced_at: 0,
        }
    }

    #[test]
    fn creates_binds_updates_and_deprovisions() {
        let a = user("u_a", "alice");
        let b = user("u_b", "bob");
        let c = user("u_c", "carol");
        let remote = Remote {
            users: vec![
                json!({"id": "r_a", "userName": "alice", "externalId": "u_a", "active": true, "displayName": "alice"}),
                json!({"id": "r_b", "userName": "BOB", "active": true, "displayName": "Bobby"}),
                json!({"id": "r_x", "userName": "gone", "active": true}),
            ],
            ..Remote::default()
        };
        let p = Pushed {
            users: vec![
                pushed("u_a", "r_a", "alice", &a.hash),
                pushed("u_x", "r_x", "gone", "h"),
            ],
            groups: vec![],
        };
        let plan = plan(&profile(false), &[a, b, c], &[], &p, &remote);
        let actions: Vec<(&str, &ObjectAction)> = plan
            .users
            .iter()
            .map(|u| (u.id.as_str(), &u.action))
            .collect();
        assert_eq!(actions[0], ("u_a", &ObjectAction::Same("r_a".into())));
        assert_eq!(
            actions[1],
            (
                "u_b",
                &ObjectAction::Bind {
                    remote_id: "r_b".into(),
                    drift: true
                }
            )
        );
        assert_eq!(actions[2], ("u_c", &ObjectAction::Create));
        assert_eq!(actions[3], ("u_x", &ObjectAction::Delete("r_x".into())));
    }

    #[test]
    fn disable_mode_and_memberships() {
        let mut a = user("u_a", "alice");
        a.groups = vec!["g_1".into()];
        let g = DesiredGroup::from_resource(
            "g_1",
            json!({"displayName": "Eng", "externalId": "g_1", "members": []}),
            vec!["u_a".into()],
        );
        let remote = Remote {
            users: vec![
                json!({"id": "r_a", "userName": "alice", "externalId": "u_a", "active": true, "displayName": "alice"}),
                json!({"id": "r_x", "userName": "gone", "active": true}),
            ],
            groups: vec![json!({"id": "r_g", "displayName": "Eng", "externalId": "g_1"})],
            members: HashMap::from([(
                "r_g".to_owned(),
                BTreeSet::from(["r_x".to_owned(), "r_stranger".to_owned()]),
            )]),
        };
        let p = Pushed {
            users: vec![
                pushed("u_a", "r_a", "alice", &a.hash),
                pushed("u_x", "r_x", "gone", "h"),
            ],
            groups: vec![],
        };
        let plan = plan(&profile(true), &[a], &[g], &p, &remote);
        assert_eq!(plan.users[1].action, ObjectAction::Disable("r_x".into()));
        assert_eq!(
            plan.groups[0].action,
            ObjectAction::Bind {
                remote_id: "r_g".into(),
                drift: false
            }
        );
        let m = &plan.members[0];
        assert_eq!(m.add, vec!["u_a".to_owned()]);
        assert_eq!(m.remove.len(), 2);
        assert_eq!(m.same, 0);
    }

    #[test]
    fn drift_ignores_unreturned_attributes() {
        let d = json!({"userName": "Alice", "title": "x", "name": {"givenName": "A"}, "emails": [{"value": "a@x"}]});
        assert!(!drifted(
            &d,
            &json!({"userName": "alice", "name": {"givenName": "A"}, "emails": [{"value": "A@x", "primary": true}]})
        ));
        assert!(drifted(
            &d,
            &json!({"userName": "alice", "name": {"givenName": "B"}})
        ));
        assert!(drifted(&d, &json!({"name": {"givenName": "A"}})));
    }
}
