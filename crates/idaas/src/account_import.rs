//! CSV import of accounts.
//!
//! The header names the columns (any order; only `username` is required):
//! `username,display_name,email,phone,password,org_unit,groups`. `org_unit` is a unit id (`ou_…`)
//! or a path `A/B/C` and becomes the user's primary unit; `groups` lists group names or ids
//! separated by `;`. A row whose user name exists updates that user (empty cells leave fields
//! unchanged). Each row is imported in its own transaction, so a bad row is reported and never
//! aborts or half-applies anything; the report says what happened to every row.

use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::{Actor, NewAuditEvent};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::org_unit::OrgUnitPath;
use crate::password::Password;
use crate::services::Services;
use crate::store::{self, Conn};
use crate::user::{DisplayName, Email, NewUser, Phone, UserName, UserUpdate};

/// Most data rows accepted in one import.
pub const MAX_ROWS: usize = 10_000;

/// The columns the importer understands.
pub const COLUMNS: &[&str] = &[
    "username",
    "display_name",
    "email",
    "phone",
    "password",
    "org_unit",
    "groups",
];

/// Why a whole file was refused (before any row was imported).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportFileError {
    /// The file has no header line.
    #[error("the CSV file is empty")]
    Empty,
    /// The header could not be read.
    #[error("the CSV header is malformed: {0}")]
    BadHeader(String),
    /// A header names a column we do not know.
    #[error(
        "unknown column {0:?} (known: username, display_name, email, phone, password, org_unit, groups)"
    )]
    UnknownColumn(String),
    /// A column appears twice.
    #[error("column {0:?} appears more than once")]
    DuplicateColumn(String),
    /// The `username` column is missing.
    #[error("the CSV header must contain a username column")]
    MissingUsername,
    /// More than [`MAX_ROWS`] rows.
    #[error("at most {MAX_ROWS} rows per import")]
    TooManyRows,
}

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowOutcome {
    /// A new user was created.
    Created,
    /// An existing user was updated.
    Updated,
    /// Nothing was changed; see the message.
    Error,
}

/// The report line of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowReport {
    /// Data row number (1 = the first line after the header).
    pub row: usize,
    /// The user name of the row, if it could be read.
    pub username: Option<String>,
    /// Outcome.
    pub outcome: RowOutcome,
    /// The user id (created or updated).
    pub user_id: Option<String>,
    /// Why the row failed.
    pub message: Option<String>,
}

/// The report of a whole import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportReport {
    /// Rows that created users.
    pub created: usize,
    /// Rows that updated users.
    pub updated: usize,
    /// Rows that failed.
    pub failed: usize,
    /// One entry per data row, in file order.
    pub rows: Vec<RowReport>,
}

#[derive(Debug, Clone, Copy)]
struct Layout {
    username: usize,
    display_name: Option<usize>,
    email: Option<usize>,
    phone: Option<usize>,
    password: Option<usize>,
    org_unit: Option<usize>,
    groups: Option<usize>,
}

/// One parsed row (cells already turned into typed values).
#[derive(Debug)]
struct Row {
    username: UserName,
    display_name: Option<DisplayName>,
    email: Option<Email>,
    phone: Option<Phone>,
    password: Option<Password>,
    org_unit: Option<String>,
    groups: Vec<String>,
}

fn parse_header(record: &csv::StringRecord) -> Result<Layout, ImportFileError> {
    let mut idx: [Option<usize>; 7] = [None; 7];
    for (i, name) in record.iter().enumerate() {
        let name = name
            .trim()
            .trim_start_matches('\u{feff}')
            .to_ascii_lowercase();
        let Some(col) = COLUMNS.iter().position(|c| *c == name) else {
            return Err(ImportFileError::UnknownColumn(name));
        };
        if idx[col].is_some() {
            return Err(ImportFileError::DuplicateColumn(name));
        }
        idx[col] = Some(i);
    }
    Ok(Layout {
        username: idx[0].ok_or(ImportFileError::MissingUsername)?,
        display_name: idx[1],
        email: idx[2],
        phone: idx[3],
        password: idx[4],
        org_unit: idx[5],
        groups: idx[6],
    })
}

fn cell(record: &csv::StringRecord, i: Option<usize>) -> Option<&str> {
    i.and_then(|i| record.get(i))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn parse_row(record: &csv::StringRecord, layout: &Layout, width: usize) -> Result<Row, String> {
    if record.len() != width {
        return Err(format!("expected {width} fields, found {}", record.len()));
    }
    let username = cell(record, Some(layout.username)).ok_or("username is required")?;
    let username = UserName::parse(username).map_err(|e| e.to_string())?;
    let display_name = cell(record, layout.display_name)
        .map(DisplayName::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let email = cell(record, layout.email)
        .map(Email::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    let phone = cell(record, layout.phone)
        .map(Phone::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    // Passwords are taken verbatim (no trimming beyond empty-cell detection).
    let password = layout
        .password
        .and_then(|i| record.get(i))
        .filter(|s| !s.is_empty())
        .map(Password::new);
    let org_unit = cell(record, layout.org_unit).map(str::to_owned);
    let groups = cell(record, layout.groups)
        .map(|g| {
            g.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Row {
        username,
        display_name,
        email,
        phone,
        password,
        org_unit,
        groups,
    })
}

impl Services {
    /// Imports accounts from CSV text into `instance_id`.
    ///
    /// `Err` only when the instance does not exist or the file as a whole is unusable (header);
    /// row problems are reported per row.
    pub async fn import_accounts(
        &self,
        actor: &Actor,
        instance_id: &str,
        csv_text: &[u8],
    ) -> Result<Result<ImportReport, ImportFileError>> {
        let instance = self.get_instance(instance_id).await?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(csv_text);
        let mut records = reader.records();
        let header = match records.next() {
            None => return Ok(Err(ImportFileError::Empty)),
            Some(Err(e)) => return Ok(Err(ImportFileError::BadHeader(e.to_string()))),
            Some(Ok(h)) => h,
        };
        let layout = match parse_header(&header) {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        let width = header.len();
        let mut rows = Vec::new();
        for record in records {
            rows.push(record);
            if rows.len() > MAX_ROWS {
                return Ok(Err(ImportFileError::TooManyRows));
            }
        }

        let mut report = ImportReport {
            created: 0,
            updated: 0,
            failed: 0,
            rows: Vec::with_capacity(rows.len()),
        };
        for (i, record) in rows.into_iter().enumerate() {
            let row_no = i + 1;
            let parsed = match record {
                Ok(r) => parse_row(&r, &layout, width),
                Err(e) => Err(format!("malformed CSV: {e}")),
            };
            let line = match parsed {
                Err(message) => RowReport {
                    row: row_no,
                    username: None,
                    outcome: RowOutcome::Error,
                    user_id: None,
                    message: Some(message),
                },
                Ok(row) => {
                    let username = row.username.as_str().to_owned();
                    match self.import_row(actor, &instance, row).await {
                        Ok((outcome, user_id)) => RowReport {
                            row: row_no,
                            username: Some(username),
                            outcome,
                            user_id: Some(user_id),
                            message: None,
                        },
                        Err(e) => RowReport {
                            row: row_no,
                            username: Some(username),
                            outcome: RowOutcome::Error,
                            user_id: None,
                            message: Some(row_error_message(&e)),
                        },
                    }
                }
            };
            match line.outcome {
                RowOutcome::Created => report.created += 1,
                RowOutcome::Updated => report.updated += 1,
                RowOutcome::Error => report.failed += 1,
            }
            report.rows.push(line);
        }
        let ev = NewAuditEvent::new(Some(instance_id), actor, "user", "import").detail(
            serde_json::json!({
                "created": report.created, "updated": report.updated, "failed": report.failed
            }),
        );
        self.record_audit(&ev).await?;
        Ok(Ok(report))
    }

    async fn import_row(
        &self,
        actor: &Actor,
        instance: &Instance,
        row: Row,
    ) -> Result<(RowOutcome, String)> {
        let policy = &instance.settings.password_policy;
        let hash = match &row.password {
            Some(p) => Some(
                self.hash_new_password(policy, row.username.as_str(), p)
                    .await?,
            ),
            None => None,
        };
        let now = self.now();
        let mut tx = self.store.begin_write().await?;
        let existing =
            store::user::get_by_username(&mut tx, &instance.id, row.username.as_str()).await?;
        let (outcome, user_id) = match existing {
            None => {
                let new = NewUser {
                    username: Some(row.username.clone()),
                    display_name: row.display_name.clone().unwrap_or_default(),
                    email: row.email.clone(),
                    phone: row.phone.clone(),
                    ..NewUser::default()
                };
                let user = crate::user::insert_user_tx(
                    &mut tx,
                    actor,
                    &instance.id,
                    &new,
                    hash.as_deref(),
                    policy.force_change_on_first_signin,
                    now,
                )
                .await?;
                (RowOutcome::Created, user.id)
            }
            Some(user) => {
                let update = UserUpdate {
                    display_name: row.display_name.clone(),
                    email: row.email.clone().map(Some),
                    phone: row.phone.clone().map(Some),
                    ..UserUpdate::default()
                };
                crate::user::update_user_tx(&mut tx, actor, &instance.id, &user.id, &update, now)
                    .await?;
                if let Some(h) = &hash {
                    store::user::set_password(
                        &mut tx,
                        &user.id,
                        h,
                        policy.force_change_on_first_signin,
                        policy.history,
                        now,
                    )
                    .await?;
                    store::session::delete_for_user(&mut tx, &user.id).await?;
                }
                (RowOutcome::Updated, user.id)
            }
        };
        if let Some(ou) = &row.org_unit {
            let ou_id = resolve_org_unit(&mut tx, &instance.id, ou).await?;
            crate::user::add_user_to_org_unit_tx(
                &mut tx,
                actor,
                &instance.id,
                &user_id,
                &ou_id,
                true,
                now,
            )
            .await?;
        }
        for g in &row.groups {
            let group = match store::group::get(&mut tx, &instance.id, g).await? {
                Some(group) => group,
                None => store::group::get_by_name(&mut tx, &instance.id, g)
                    .await?
                    .ok_or_else(|| {
                        Error::invalid("groups", format!("group {g:?} does not exist"))
                    })?,
            };
            crate::group::add_group_member_tx(
                &mut tx,
                actor,
                &instance.id,
                &group.id,
                &user_id,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.provisioning_wake.notify_one();
        Ok((outcome, user_id))
    }
}

async fn resolve_org_unit(conn: &mut Conn, instance_id: &str, text: &str) -> Result<String> {
    if text.starts_with("ou_")
        && let Some(ou) = store::org_unit::get(conn, instance_id, text).await?
    {
        return Ok(ou.id);
    }
    let path = OrgUnitPath::parse(text)?;
    crate::org_unit::find_by_path(conn, instance_id, &path)
        .await?
        .map(|ou| ou.id)
        .ok_or_else(|| {
            Error::invalid(
                "org_unit",
                format!("organizational unit {text:?} does not exist"),
            )
        })
}

fn row_error_message(e: &Error) -> String {
    match e {
        Error::Db(_) | Error::Corrupt(_) | Error::Internal(_) => {
            tracing::error!(error = %e, "import row failed");
            "internal error".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    #[test]
    fn header_rules() {
        let l = parse_header(&rec(&["Email", "\u{feff}username"])).unwrap();
        assert_eq!(l.username, 1);
        assert_eq!(l.email, Some(0));
        assert_eq!(
            parse_header(&rec(&["username", "nope"])).unwrap_err(),
            ImportFileError::UnknownColumn("nope".into())
        );
        assert_eq!(
            parse_header(&rec(&["username", "Username"])).unwrap_err(),
            ImportFileError::DuplicateColumn("username".into())
        );
        assert_eq!(
            parse_header(&rec(&["email"])).unwrap_err(),
            ImportFileError::MissingUsername
        );
    }

    #[test]
    fn row_rules() {
        let l = parse_header(&rec(&["username", "email", "groups"])).unwrap();
        let r = parse_row(&rec(&["alice", "a@example.com", "g1; g2 ;"]), &l, 3).unwrap();
        assert_eq!(r.groups, vec!["g1", "g2"]);
        assert!(
            parse_row(&rec(&["alice", "bad"]), &l, 3)
                .unwrap_err()
                .contains("expected 3 fields")
        );
        assert!(
            parse_row(&rec(&["", "", ""]), &l, 3)
                .unwrap_err()
                .contains("username is required")
        );
        assert!(
            parse_row(&rec(&["alice", "not-an-email", ""]), &l, 3)
                .unwrap_err()
                .contains("email")
        );
    }
}
