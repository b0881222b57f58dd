//! Searching conversations, for the API (`GET /api/v1/search`) and the web list's search box:
//! the query read (`domain::search_text`), the conversations the reader may read ranked by the
//! store, and for each its best matching messages as snippets with the words to mark.

use crate::domain::search_text::{self, QueryError, SearchQuery, Snippet};
use crate::domain::{ConversationType, Role};
use crate::store::{Conversation, ConversationStatus, Person, SearchFilter, StoreError};
use crate::web::AppState;

/// Snippets per conversation, and their length in characters.
const SNIPPETS: usize = 2;
const SNIPPET_CHARS: usize = 160;

/// What to search, and as whom.
pub struct Search<'a> {
    pub q: &'a str,
    /// Whose rights apply (None: the admin, who reads everything).
    pub reader: Option<&'a Person>,
    pub status: Option<ConversationStatus>,
    pub kind: Option<ConversationType>,
    pub company: Option<&'a str>,
    pub offset: i64,
    pub limit: i64,
}

/// One found text of a conversation.
pub struct Found {
    /// None for the subject or the participants.
    pub message_id: Option<String>,
    /// `message`, `note`, `subject` or `people`.
    pub kind: String,
    pub snippet: Snippet,
}

pub struct Hit {
    pub conversation: Conversation,
    pub found: Vec<Found>,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The page of results, and whether another may follow.
pub async fn search(state: &AppState, search: &Search<'_>) -> Result<Vec<Hit>, SearchError> {
    let query = search_text::parse_query(search.q)?;
    let staff = search.reader.is_none_or(|p| p.role == Role::Internal);
    let filter = SearchFilter {
        reader: search.reader.map(|p| p.id.as_str()),
        staff,
        status: search.status,
        kind: search.kind,
        company: search.company,
    };
    let found = state
        .store
        .search(&query, &filter, search.offset, search.limit)
        .await?;
    let ids: Vec<String> = found
        .iter()
        .flat_map(|hit| hit.documents.iter().filter_map(|(id, _)| id.clone()))
        .collect();
    let texts = state.store.message_texts(&ids).await?;
    let mut hits = Vec::with_capacity(found.len());
    for hit in found {
        let mut snippets = Vec::new();
        for (message_id, kind) in hit.documents.iter().take(SNIPPETS) {
            let text = match (kind.as_str(), message_id) {
                ("subject", _) => hit.conversation.subject.clone(),
                ("people", _) => state.store.people_text(&hit.conversation.id).await?,
                (_, Some(id)) => texts.get(id).cloned().unwrap_or_default(),
                (_, None) => continue,
            };
            if let Some(snippet) = snippet_of(&text, &query) {
                snippets.push(Found {
                    message_id: message_id.clone(),
                    kind: kind.clone(),
                    snippet,
                });
            }
        }
        hits.push(Hit {
            conversation: hit.conversation,
            found: snippets,
        });
    }
    Ok(hits)
}

fn snippet_of(text: &str, query: &SearchQuery) -> Option<Snippet> {
    // Sign-in links in an old message are secrets: never shown in a result.
    let text = crate::domain::redact_sign_in_links(text);
    search_text::snippet(&text, query, SNIPPET_CHARS)
}
