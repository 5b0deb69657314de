//! Organizational units: a tree per instance; users belong to any number of units, one of them primary.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::InvalidInput;

/// A unit name: 1–128 characters, no `/` (paths use it) and no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "Engineering")]
pub struct OrgUnitName(String);

impl OrgUnitName {
    /// Parses a unit name (surrounding whitespace is trimmed).
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let s = s.trim();
        if s.is_empty()
            || s.chars().count() > 128
            || s.contains('/')
            || s.chars().any(char::is_control)
        {
            return Err(InvalidInput::new(
                "name",
                "must be 1 to 128 characters without '/' or control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrgUnitName {
    type Error = InvalidInput;
    fn try_from(s: String) -> Result<Self, InvalidInput> {
        Self::parse(&s)
    }
}

impl From<OrgUnitName> for String {
    fn from(n: OrgUnitName) -> String {
        n.0
    }
}

/// A path of unit names from a root, written `Root/Child/Grandchild`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnitPath(Vec<OrgUnitName>);

impl OrgUnitPath {
    /// Parses `A/B/C` (leading and trailing `/` ignored).
    pub fn parse(s: &str) -> Result<Self, InvalidInput> {
        let parts = s
            .trim()
            .trim_matches('/')
            .split('/')
            .map(OrgUnitName::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| InvalidInput::new("org_unit", "is not a valid unit path like A/B/C"))?;
        if parts.is_empty() || parts.len() > 32 {
            return Err(InvalidInput::new(
                "org_unit",
                "is not a valid unit path like A/B/C",
            ));
        }
        Ok(Self(parts))
    }

    /// The names from the root down.
    pub fn names(&self) -> &[OrgUnitName] {
        &self.0
    }
}

/// Description or external id text: at most `max` characters, no control characters except newlines.
pub(crate) fn free_text(field: &'static str, s: &str, max: usize) -> Result<String, InvalidInput> {
    if s.chars().count() > max || s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max} characters without control characters"),
        ));
    }
    Ok(s.to_owned())
}

/// An organizational unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrgUnit {
    /// `ou_…`
    pub id: String,
    /// Owning instance.
    pub instance_id: String,
    /// Parent unit (`None` for a root).
    pub parent_id: Option<String>,
    /// Name (unique among siblings).
    pub name: String,
    /// Description.
    pub description: String,
    /// Identifier in an external source.
    pub external_id: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths() {
        assert!(OrgUnitName::parse("R&D").is_ok());
        assert!(OrgUnitName::parse("a/b").is_err());
        assert!(OrgUnitName::parse(" ").is_err());
        let p = OrgUnitPath::parse("/Acme/Engineering/").unwrap();
        assert_eq!(p.names().len(), 2);
        assert!(OrgUnitPath::parse("Acme//Eng").is_err());
        assert!(OrgUnitPath::parse("").is_err());
    }
}

/// What is needed to create a unit (already parsed).
#[derive(Debug, Clone)]
pub struct NewOrgUnit {
    /// Parent (`None` = a root).
    pub parent_id: Option<String>,
    /// Name.
    pub name: OrgUnitName,
    /// Description.
    pub description: String,
    /// External id.
    pub external_id: Option<String>,
}

/// A partial update of a unit; `parent_id: Some(p)` moves it (`Some(None)` = make it a root).
#[derive(Debug, Clone, Default)]
pub struct OrgUnitUpdate {
    /// New name.
    pub name: Option<OrgUnitName>,
    /// New description.
    pub description: Option<String>,
    /// New external id.
    pub external_id: Option<Option<String>>,
    /// New parent.
    pub parent_id: Option<Option<String>>,
}

mod service {
    use super::*;
    use crate::audit::{Actor, NewAuditEvent};
    use crate::error::{Error, Result};
    use crate::id;
    use crate::services::Services;
    use crate::store::{self, Conn};

    impl Services {
        /// Creates a unit.
        pub async fn create_org_unit(
            &self,
            actor: &Actor,
            instance_id: &str,
            new: NewOrgUnit,
        ) -> Result<OrgUnit> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            let ou = create_org_unit_tx(&mut tx, actor, instance_id, &new, now).await?;
            tx.commit().await?;
            Ok(ou)
        }

        /// The unit `id`.
        pub async fn get_org_unit(&self, instance_id: &str, id: &str) -> Result<OrgUnit> {
            let mut conn = self.store.read().await?;
            store::org_unit::get(&mut conn, instance_id, id)
                .await?
                .ok_or(Error::NotFound("organizational unit"))
        }

        /// All units of an instance.
        pub async fn list_org_units(&self, instance_id: &str) -> Result<Vec<OrgUnit>> {
            let mut conn = self.store.read().await?;
            store::org_unit::list(&mut conn, instance_id).await
        }

        /// Direct children of a unit (`None` = the roots).
        pub async fn org_unit_children(
            &self,
            instance_id: &str,
            parent_id: Option<&str>,
        ) -> Result<Vec<OrgUnit>> {
            let mut conn = self.store.read().await?;
            if let Some(p) = parent_id
                && store::org_unit::get(&mut conn, instance_id, p)
                    .await?
                    .is_none()
            {
                return Err(Error::NotFound("organizational unit"));
            }
            store::org_unit::children(&mut conn, instance_id, parent_id).await
        }

        /// A unit and everything below it.
        pub async fn org_unit_descendants(
            &self,
            instance_id: &str,
            id: &str,
        ) -> Result<Vec<OrgUnit>> {
            let mut conn = self.store.read().await?;
            let all = store::org_unit::descendants(&mut conn, instance_id, id).await?;
            if all.is_empty() {
                return Err(Error::NotFound("organizational unit"));
            }
            Ok(all)
        }

        /// Renames, describes and/or moves a unit.
        pub async fn update_org_unit(
            &self,
            actor: &Actor,
            instance_id: &str,
            id: &str,
            update: OrgUnitUpdate,
        ) -> Result<OrgUnit> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            if update.parent_id.is_some() {
                // Taken first, before any row of the tree is read or written (no lock-order cycle).
                store::org_unit::lock_tree(&mut tx, instance_id).await?;
            }
            let cur = store::org_unit::get(&mut tx, instance_id, id)
                .await?
                .ok_or(Error::NotFound("organizational unit"))?;
            let name = update
                .name
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or(cur.name.clone());
            let description = match &update.description {
                Some(d) => free_text("description", d, 1024)?,
                None => cur.description.clone(),
            };
            let external_id = match &update.external_id {
                Some(x) => x.clone(),
                None => cur.external_id.clone(),
            };
            store::org_unit::update(
                &mut tx,
                instance_id,
                id,
                &name,
                &description,
                external_id.as_deref(),
                now,
            )
            .await?;
            if let Some(parent) = &update.parent_id {
                if let Some(p) = parent
                    && store::org_unit::get(&mut tx, instance_id, p)
                        .await?
                        .is_none()
                {
                    return Err(Error::NotFound("parent organizational unit"));
                }
                if parent.as_deref() != cur.parent_id.as_deref() {
                    store::org_unit::move_to(&mut tx, instance_id, id, parent.as_deref(), now)
                        .await?;
                    let ev = NewAuditEvent::new(Some(instance_id), actor, "org_unit", "move")
                        .target("org_unit", id)
                        .detail(serde_json::json!({ "from": cur.parent_id, "to": parent }));
                    store::audit::append(&mut tx, &ev, now).await?;
                }
            }
            if update.name.is_some() || update.description.is_some() || update.external_id.is_some()
            {
                let ev = NewAuditEvent::new(Some(instance_id), actor, "org_unit", "update")
                    .target("org_unit", id);
                store::audit::append(&mut tx, &ev, now).await?;
            }
            let ou = store::org_unit::get(&mut tx, instance_id, id)
                .await?
                .ok_or(Error::NotFound("organizational unit"))?;
            tx.commit().await?;
            self.provisioning_wake.notify_one();
            Ok(ou)
        }

        /// Deletes a unit that has no children and no members.
        pub async fn delete_org_unit(
            &self,
            actor: &Actor,
            instance_id: &str,
            id: &str,
        ) -> Result<()> {
            let now = self.now();
            let mut tx = self.store.begin_write().await?;
            if store::org_unit::get(&mut tx, instance_id, id)
                .await?
                .is_none()
            {
                return Err(Error::NotFound("organizational unit"));
            }
            store::org_unit::delete_if_empty(&mut tx, instance_id, id).await?;
            let ev = NewAuditEvent::new(Some(instance_id), actor, "org_unit", "delete")
                .target("org_unit", id);
            store::audit::append(&mut tx, &ev, now).await?;
            tx.commit().await?;
            Ok(())
        }

        /// Resolves a unit path `A/B/C` to the unit.
        pub async fn find_org_unit_by_path(
            &self,
            instance_id: &str,
            path: &OrgUnitPath,
        ) -> Result<Option<OrgUnit>> {
            let mut conn = self.store.read().await?;
            find_by_path(&mut conn, instance_id, path).await
        }
    }

    /// Creates a unit and its audit event inside `tx`.
    async fn create_org_unit_tx(
        tx: &mut Conn,
        actor: &Actor,
        instance_id: &str,
        new: &NewOrgUnit,
        now: i64,
    ) -> Result<OrgUnit> {
        if store::instance::get(tx, instance_id).await?.is_none() {
            return Err(Error::NotFound("instance"));
        }
        if let Some(p) = &new.parent_id
            && store::org_unit::get(tx, instance_id, p).await?.is_none()
        {
            return Err(Error::NotFound("parent organizational unit"));
        }
        let ou = OrgUnit {
            id: id::new_id("ou"),
            instance_id: instance_id.to_owned(),
            parent_id: new.parent_id.clone(),
            name: new.name.as_str().to_owned(),
            description: free_text("description", &new.description, 1024)?,
            external_id: new.external_id.clone(),
            created_at: now,
            updated_at: now,
        };
        store::org_unit::insert(tx, &ou).await?;
        let ev = NewAuditEvent::new(Some(instance_id), actor, "org_unit", "create")
            .target("org_unit", &ou.id)
            .detail(serde_json::json!({ "name": ou.name, "parent_id": ou.parent_id }));
        store::audit::append(tx, &ev, now).await?;
        Ok(ou)
    }

    /// Resolves a unit path inside a connection or transaction.
    pub(crate) async fn find_by_path(
        conn: &mut Conn,
        instance_id: &str,
        path: &OrgUnitPath,
    ) -> Result<Option<OrgUnit>> {
        let mut parent: Option<OrgUnit> = None;
        for name in path.names() {
            let next = store::org_unit::find_child(
                conn,
                instance_id,
                parent.as_ref().map(|p| p.id.as_str()),
                name.as_str(),
            )
            .await?;
            match next {
                Some(ou) => parent = Some(ou),
                None => return Ok(None),
            }
        }
        Ok(parent)
    }
}

pub(crate) use service::find_by_path;
