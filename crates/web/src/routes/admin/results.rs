//! `GET /api/admin/rankings.csv`: the final standings for the organizers, every ranked
//! player in the public ranking's order ([`db::rankings::export`]), as CSV.
//!
//! RFC 4180: CRLF line ends, a field quoted when it holds a comma, a double quote, CR or
//! LF, quotes inside doubled. A text cell that a spreadsheet would run as a formula
//! (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`, so opening the file
//! cannot run what a player typed as their name or city.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use skillreel_shared::{db, domain};
use utoipa::IntoParams;

use crate::{
    error::{ApiResult, ErrorBody},
    extract::{Organizer, Query},
    routes::public::filter,
    state::AppState,
};

/// The header row.
pub const HEADER: &str = "position,player,email,city,votes,public_videos";

/// Query of the export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// City, case-insensitive; blank means every city.
    #[param(max_length = 100, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$")]
    pub city: Option<String>,
}

/// One text cell: formula triggers neutralised, then quoted if it must be.
fn push_text(out: &mut String, value: &str) {
    let formula = value
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    let quote = value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    if quote {
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// The whole file: the header, then one line per ranked player.
fn to_csv(rows: &[db::rankings::ExportRow]) -> String {
    let mut out = String::with_capacity(64 * (rows.len() + 1));
    out.push_str(HEADER);
    out.push_str("\r\n");
    for (row, position) in rows.iter().zip(1u64..) {
        out.push_str(&position.to_string());
        out.push(',');
        push_text(&mut out, &domain::username(&row.first_name, &row.last_name));
        out.push(',');
        push_text(&mut out, &row.email);
        out.push(',');
        push_text(&mut out, &row.city);
        out.push(',');
        out.push_str(&row.votes.to_string());
        out.push(',');
        out.push_str(&row.public_videos.to_string());
        out.push_str("\r\n");
    }
    out
}

/// The whole ranking (or one city's) as CSV, in the public ranking's order: `position`
/// is the public position, ties to the earlier sign-up. Text cells that a spreadsheet
/// would take for a formula start with `'`.
#[utoipa::path(get, path = "/api/admin/rankings.csv", tag = "admin", security(("bearer" = [])),
    params(ExportQuery),
    responses((status = 200, description = "the ranking as CSV (RFC 4180, CRLF, header `position,player,email,city,votes,public_videos`), sent as an attachment",
                content_type = "text/csv", body = String,
                headers(("Content-Disposition" = String, description = "`attachment; filename=\"rankings.csv\"`"))),
              (status = 403, description = "not an organizer (`organizers-only`) or suspended", body = ErrorBody),
              (status = 422, description = "city over 100 characters or with control characters", body = ErrorBody),
              (status = 503, description = "the database is down", body = ErrorBody)))]
pub async fn rankings_csv(
    State(state): State<AppState>,
    _organizer: Organizer,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let city = filter("city", q.city)?;
    let rows = db::rankings::export(&state.db, city.as_deref()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"rankings.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        to_csv(&rows),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(value: &str) -> String {
        let mut out = String::new();
        push_text(&mut out, value);
        out
    }

    #[test]
    fn plain_text_is_left_alone() {
        assert_eq!(cell("Ana Tester"), "Ana Tester");
        assert_eq!(cell("Bogotá"), "Bogotá");
        assert_eq!(cell(""), "");
    }

    #[test]
    fn commas_quotes_and_line_ends_are_quoted() {
        assert_eq!(cell("Cali, Valle"), "\"Cali, Valle\"");
        assert_eq!(cell("The \"Kid\""), "\"The \"\"Kid\"\"\"");
        assert_eq!(cell("a\nb"), "\"a\nb\"");
    }

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(cell("=1+1"), "'=1+1");
        assert_eq!(cell("+57 300"), "'+57 300");
        assert_eq!(cell("-x"), "'-x");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("\tx"), "'\tx");
        assert_eq!(
            cell("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(cell("a=b"), "a=b", "only the first character matters");
    }

    #[test]
    fn rows_follow_the_header_with_crlf() {
        let rows = [db::rankings::ExportRow {
            player_id: 7,
            first_name: "Ana".into(),
            last_name: "O'Neil, Jr".into(),
            email: "ana@example.com".into(),
            city: "=cmd".into(),
            votes: 12,
            public_videos: 2,
        }];
        assert_eq!(
            to_csv(&rows),
            "position,player,email,city,votes,public_videos\r\n\
             1,\"Ana O'Neil, Jr\",ana@example.com,'=cmd,12,2\r\n"
        );
    }
}
