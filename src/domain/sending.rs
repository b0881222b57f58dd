//! The sending domains as email uses them: whose From, reply domain, display name and language
//! each conversation's emails carry, and which reply domains the SMTP listener accepts. Built
//! from `--from-address`/`--reply-domain` (the default domain, so a fresh install needs no
//! table row) and the domains an admin added; read through [`LiveDomains`], which the domain
//! admin replaces on every change and the scheduler reloads for changes made by another process.

use super::{EmailAddress, Locale};
use std::sync::{Arc, RwLock};

/// The display name of our emails when a domain sets none (`"Ada via threadgate"`).
pub const DEFAULT_DISPLAY_NAME: &str = "threadgate";

/// The local part of a domain's notifications address when it sets none.
pub const DEFAULT_NOTIFICATIONS_LOCAL: &str = "notifications";

/// One sending domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingDomain {
    /// The domain of the From address (`example.com`), lowercased.
    pub name: String,
    /// Where its reply, bounce and unsubscribe addresses live (`reply.example.com`).
    pub reply_domain: String,
    /// Its notifications address (`notifications@example.com`).
    pub from: EmailAddress,
    /// After "via" in the From display name.
    pub display_name: String,
    /// The language of people who first write to its inbox (None: `--default-locale`).
    pub locale: Option<Locale>,
    /// Other reply domains whose tokens are this domain's: the default domain keeps
    /// `--reply-domain` when its row names another, so addresses already sent still work.
    pub also_accepts: Vec<String>,
}

impl SendingDomain {
    /// Whether a reply address on `reply_domain` may carry a token of this domain's
    /// conversations.
    pub fn accepts(&self, reply_domain: &str) -> bool {
        self.reply_domain.eq_ignore_ascii_case(reply_domain)
            || self
                .also_accepts
                .iter()
                .any(|d| d.eq_ignore_ascii_case(reply_domain))
    }
}

/// Every sending domain, the default first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingDomains {
    all: Vec<SendingDomain>,
}

impl SendingDomains {
    /// `default` and the `others` (one named like the default is skipped: the default's
    /// settings come from its own row, merged by the caller).
    pub fn new(default: SendingDomain, others: Vec<SendingDomain>) -> SendingDomains {
        let mut all = vec![default];
        for domain in others {
            if !all.iter().any(|d| d.name == domain.name) {
                all.push(domain);
            }
        }
        SendingDomains { all }
    }

    /// Only the default domain: `--from-address` on `--reply-domain`.
    pub fn single(from: EmailAddress, reply_domain: &str) -> SendingDomains {
        SendingDomains::new(
            SendingDomain {
                name: from.domain().to_ascii_lowercase(),
                reply_domain: reply_domain.to_ascii_lowercase(),
                from,
                display_name: DEFAULT_DISPLAY_NAME.to_string(),
                locale: None,
                also_accepts: Vec::new(),
            },
            Vec::new(),
        )
    }

    pub fn default_domain(&self) -> &SendingDomain {
        &self.all[0]
    }

    pub fn all(&self) -> &[SendingDomain] {
        &self.all
    }

    /// A conversation's domain by its stored name: None, or a name no longer known (a
    /// domain removed since), is the default.
    pub fn of(&self, name: Option<&str>) -> &SendingDomain {
        name.and_then(|n| self.named(n))
            .unwrap_or_else(|| self.default_domain())
    }

    /// The domain called `name`, if it is one of ours.
    pub fn named(&self, name: &str) -> Option<&SendingDomain> {
        self.all.iter().find(|d| d.name.eq_ignore_ascii_case(name))
    }

    /// Whether `domain` is one of our reply domains (the only domains we accept mail for,
    /// besides inbox addresses).
    pub fn is_reply_domain(&self, domain: &str) -> bool {
        self.all.iter().any(|d| d.accepts(domain))
    }

    /// Whether `key` (a lowercased address) is one of our notifications addresses: a client
    /// may answer the From rather than the Reply-To.
    pub fn is_own_address(&self, key: &str) -> bool {
        self.all.iter().any(|d| d.from.key() == key)
    }

    /// Whether a token of a conversation of domain `conversation_domain` may be used on
    /// `reply_domain`: each domain's tokens are valid only on its own reply domain.
    pub fn token_valid_on(&self, conversation_domain: Option<&str>, reply_domain: &str) -> bool {
        self.of(conversation_domain).accepts(reply_domain)
    }
}

/// The current [`SendingDomains`], shared by the SMTP listener, the pipeline and the composer.
/// Readers take a snapshot (`now`); a change replaces it whole.
#[derive(Debug, Clone)]
pub struct LiveDomains(Arc<RwLock<Arc<SendingDomains>>>);

impl LiveDomains {
    pub fn new(domains: SendingDomains) -> LiveDomains {
        LiveDomains(Arc::new(RwLock::new(Arc::new(domains))))
    }

    /// The domains as they are now.
    pub fn now(&self) -> Arc<SendingDomains> {
        // A writer that panicked left a whole value behind (replace swaps one Arc): keep it.
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces them; true when something changed.
    pub fn replace(&self, domains: SendingDomains) -> bool {
        let mut guard = match self.0.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if **guard == domains {
            return false;
        }
        *guard = Arc::new(domains);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(name: &str, reply: &str) -> SendingDomain {
        SendingDomain {
            name: name.into(),
            reply_domain: reply.into(),
            from: EmailAddress::parse(&format!("notifications@{name}")).unwrap(),
            display_name: DEFAULT_DISPLAY_NAME.into(),
            locale: None,
            also_accepts: Vec::new(),
        }
    }

    #[test]
    fn each_domain_s_tokens_are_valid_only_on_its_own_reply_domain() {
        let mut default = domain("a.test", "reply.a.test");
        default.also_accepts.push("old.a.test".into());
        let domains = SendingDomains::new(default, vec![domain("b.test", "reply.b.test")]);
        assert!(domains.token_valid_on(None, "reply.a.test"));
        assert!(domains.token_valid_on(None, "OLD.a.test"));
        assert!(!domains.token_valid_on(None, "reply.b.test"));
        assert!(domains.token_valid_on(Some("b.test"), "reply.b.test"));
        assert!(!domains.token_valid_on(Some("b.test"), "reply.a.test"));
        // A domain removed since: its conversations are the default's.
        assert!(domains.token_valid_on(Some("gone.test"), "reply.a.test"));
        assert!(domains.is_reply_domain("reply.b.test"));
        assert!(!domains.is_reply_domain("b.test"));
        assert!(domains.is_own_address("notifications@b.test"));
    }

    #[test]
    fn the_default_comes_first_and_is_not_repeated() {
        let domains = SendingDomains::new(
            domain("a.test", "reply.a.test"),
            vec![
                domain("a.test", "other.a.test"),
                domain("b.test", "reply.b.test"),
            ],
        );
        assert_eq!(domains.all().len(), 2);
        assert_eq!(domains.default_domain().reply_domain, "reply.a.test");
    }

    #[test]
    fn a_snapshot_stays_as_it_was_when_the_domains_change() {
        let live = LiveDomains::new(SendingDomains::single(
            EmailAddress::parse("n@a.test").unwrap(),
            "reply.a.test",
        ));
        let before = live.now();
        assert!(!live.replace((*before).clone()));
        assert!(live.replace(SendingDomains::new(
            before.default_domain().clone(),
            vec![domain("b.test", "reply.b.test")]
        )));
        assert_eq!(before.all().len(), 1);
        assert_eq!(live.now().all().len(), 2);
    }
}
