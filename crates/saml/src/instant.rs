//! SAML time values (`xs:dateTime`, SAML core §1.3.3): formatting what we emit and parsing what we read.
//!
//! We always emit UTC with whole seconds, `YYYY-MM-DDThh:mm:ssZ`, the form every SAML implementation
//! accepts. We read any RFC 3339 timestamp (fractional seconds of any length, `Z` or an offset), and,
//! because SAML requires UTC, a timestamp without a zone is read as UTC.

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// An `xs:dateTime` value that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an xs:dateTime value: {value:?}")]
pub struct InstantError {
    /// The offending text (truncated to 64 characters).
    pub value: String,
}

/// Formats `t` as `YYYY-MM-DDThh:mm:ssZ` in UTC, dropping sub-second precision.
pub fn format_instant(t: OffsetDateTime) -> String {
    let utc = t.to_offset(UtcOffset::UTC);
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    // The description has only numeric components, so formatting cannot fail for years 0..=9999;
    // outside that range we fall back to RFC 3339, which is still a valid xs:dateTime.
    utc.format(&fmt)
        .or_else(|_| utc.format(&Rfc3339))
        .unwrap_or_default()
}

/// Parses an `xs:dateTime` as used in SAML; a value without a zone is taken as UTC.
pub fn parse_instant(text: &str) -> Result<OffsetDateTime, InstantError> {
    let value = text.trim();
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(t);
    }
    // xs:dateTime allows omitting the zone; SAML says the value is UTC.
    let has_zone = value.ends_with(['Z', 'z'])
        || value
            .rsplit_once('T')
            .is_some_and(|(_, time_part)| time_part.contains(['+', '-']));
    if !has_zone && let Ok(t) = OffsetDateTime::parse(&format!("{value}Z"), &Rfc3339) {
        return Ok(t);
    }
    Err(InstantError {
        value: value.chars().take(64).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_utc_whole_seconds() {
        let t = datetime!(2026-03-04 05:06:07.891 +02:00);
        assert_eq!(format_instant(t), "2026-03-04T03:06:07Z");
    }

    #[test]
    fn parses_the_forms_seen_in_the_wild() {
        assert_eq!(
            parse_instant("2015-12-03T01:57:09.123456789Z").unwrap(),
            datetime!(2015-12-03 01:57:09.123456789 UTC)
        );
        assert_eq!(
            parse_instant("2021-01-03T16:17:49.000Z").unwrap(),
            datetime!(2021-01-03 16:17:49 UTC)
        );
        assert_eq!(
            parse_instant(" 2100-01-01T00:00:42Z\n").unwrap(),
            datetime!(2100-01-01 00:00:42 UTC)
        );
        assert_eq!(
            parse_instant("2020-01-01T02:00:00+02:00").unwrap(),
            datetime!(2020-01-01 00:00:00 UTC)
        );
        assert_eq!(
            parse_instant("2020-01-01T00:00:00").unwrap(),
            datetime!(2020-01-01 00:00:00 UTC)
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "yesterday",
            "2020-13-01T00:00:00Z",
            "2020-01-01",
            "2020-01-01T25:00:00Z",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn round_trips() {
        let t = datetime!(2030-12-31 23:59:59 UTC);
        assert_eq!(parse_instant(&format_instant(t)).unwrap(), t);
    }
}
