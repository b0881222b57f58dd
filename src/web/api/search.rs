//! `GET /api/v1/search?q=…&as=per_…[&company=&type=&status=&limit=&cursor=]`: conversations
//! ranked by relevance (recency breaks ties), each with its best matching texts as snippets —
//! `{results: [{conversation, snippets: [{message_id, kind, text, marks: [[start, end]],
//! cut_before, cut_after}]}], next_cursor}`, marks in bytes of the snippet's text, `cut_*`
//! when the text goes on around it. With `as`, only what that person may
//! read, and for a client never a note or the participants.

use super::json::{ApiResult, conversation_json, ok, parse_limit, parse_status};
use crate::store::Cursor;
use crate::web::AppState;
use crate::web::error::ApiError;
use crate::web::service::search::{self, Search, SearchError};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    #[serde(rename = "as")]
    reader: Option<String>,
    company: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl From<SearchError> for ApiError {
    fn from(err: SearchError) -> ApiError {
        match err {
            SearchError::Query(e) => ApiError::invalid_field("q", e.to_string()),
            SearchError::Store(e) => e.into(),
        }
    }
}

/// The offset a cursor of ours carries.
const CURSOR_ID: &str = "search";

pub async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query?;
    let q = query.q.as_deref().unwrap_or("");
    let reader = super::json::reader(&state, query.reader.as_deref()).await?;
    let kind = super::json::parse_type(query.kind.as_deref())?;
    let offset = match query.cursor.as_deref() {
        None => 0,
        Some(raw) => Cursor::decode(raw)
            .filter(|c| c.id == CURSOR_ID)
            .and_then(|c| c.key.parse::<i64>().ok())
            .filter(|o| *o >= 0)
            .ok_or_else(|| ApiError::invalid_field("cursor", "not a cursor we gave"))?,
    };
    let limit = parse_limit(&query.limit)?.min(100);
    let hits = search::search(
        &state,
        &Search {
            q,
            reader: reader.as_ref(),
            status: parse_status(query.status.as_deref())?,
            kind,
            company: query.company.as_deref().map(str::trim),
            offset,
            limit,
        },
    )
    .await?;
    let next_cursor = (hits.len() as i64 == limit).then(|| {
        Cursor {
            key: (offset + limit).to_string(),
            id: CURSOR_ID.into(),
        }
        .encode()
    });
    let results: Vec<_> = hits
        .iter()
        .map(|hit| {
            json!({
                "conversation": conversation_json(&hit.conversation, &[]),
                "snippets": hit.found.iter().map(|f| json!({
                    "message_id": f.message_id, "kind": f.kind, "text": f.snippet.text,
                    "cut_before": f.snippet.cut_before, "cut_after": f.snippet.cut_after,
                    "marks": f.snippet.marks.iter().map(|(s, e)| [s, e]).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    ok(json!({"results": results, "next_cursor": next_cursor}))
}
