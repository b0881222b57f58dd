//! Opaque identifiers: a short kind prefix plus 80 random bits in lowercase base32.
//!
//! Random rather than sequential so that an id seen in one conversation says nothing about
//! another and cannot be guessed by counting.

use super::token::random_base32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Person,
    Conversation,
    Message,
    Inbound,
    Outbox,
    Attachment,
    /// A person's other address.
    Address,
    Company,
    /// The record that a person was erased.
    Erasure,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::Person => "per_",
            IdKind::Conversation => "cnv_",
            IdKind::Message => "msg_",
            IdKind::Inbound => "inb_",
            IdKind::Outbox => "out_",
            IdKind::Attachment => "att_",
            IdKind::Address => "adr_",
            IdKind::Company => "cmp_",
            IdKind::Erasure => "era_",
        }
    }
}

pub struct Id;

impl Id {
    pub fn generate(kind: IdKind) -> String {
        format!("{}{}", kind.prefix(), random_base32(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_kind_and_are_unique() {
        let a = Id::generate(IdKind::Person);
        assert!(a.starts_with("per_"));
        assert_eq!(a.len(), 4 + 16);
        assert_ne!(a, Id::generate(IdKind::Person));
    }
}
