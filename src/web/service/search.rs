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
    let conversations = state
        .store
        .search(&query, &filter, search.offset, search.limit)
        .await?;
    let ids: Vec<String> = conversations.iter().map(|c| c.id.clone()).collect();
    let matches = state.store.search_matches(&query, &ids, staff).await?;
    let mut hits = Vec::with_capacity(conversations.len());
    for conversation in conversations {
        let mut found = Vec::new();
        for m in matches
            .iter()
            .filter(|m| m.conversation_id == conversation.id)
        {
            if found.len() == SNIPPETS {
                break;
            }
            let text = match m.kind.as_str() {
                "people" => state.store.people_text(&conversation.id).await?,
                _ => m.text.clone(),
            };
            if let Some(snippet) = snippet_of(&text, &query) {
                found.push(Found {
                    message_id: m.message_id.clone(),
                    kind: m.kind.clone(),
                    snippet,
                });
            }
        }
        hits.push(Hit {
            conversation,
            found,
        });
    }
    Ok(hits)
}

fn snippet_of(text: &str, query: &SearchQuery) -> Option<Snippet> {
    // Sign-in links in an old message are secrets: never shown in a result.
    let text = crate::domain::redact_sign_in_links(text);
    search_text::snippet(&text, query, SNIPPET_CHARS)
}
