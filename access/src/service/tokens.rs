//! Personal API tokens through the service: created by their owner, revoked by the owner or
//! an admin, both audited; and the check the API makes on a presented token.

use std::time::Duration;

use super::{AccessService, ServiceError};
use crate::api_token::{self, ApiToken};
use crate::audit::AuditEvent;
use crate::ids::{AuditId, TokenId};
use crate::policy::Identity;
use crate::store::ChangeEvent;

/// The most live tokens one person may hold: a bound on what a stolen session can mint.
pub const MAX_TOKENS_PER_USER: usize = 20;

impl AccessService {
    /// A new token acting as `owner` for `lifetime` (at most [`api_token::MAX_LIFETIME`]); the
    /// token and the string to show once.
    pub async fn create_api_token(
        &self,
        owner: &Identity,
        name: &str,
        lifetime: Duration,
    ) -> Result<(ApiToken, String), ServiceError> {
        let now = self.clock.now();
        if self.store.api_tokens_of(&owner.user, now).await?.len() >= MAX_TOKENS_PER_USER {
            return Err(ServiceError::Forbidden(
                "you hold the most API tokens allowed (20): revoke one first",
            ));
        }
        let id = TokenId::from(self.ids.next(now));
        let (token, shown) = ApiToken::issue(id, name, owner, now, lifetime);
        self.store.save_api_token(&token).await?;
        let id = AuditId::from(self.ids.next(now));
        self.audit(AuditEvent::api_token(id, now, &owner.user, &token, true)).await?;
        Ok((token, shown))
    }

    /// `who`'s live tokens, oldest first.
    pub async fn api_tokens(&self, who: &Identity) -> Result<Vec<ApiToken>, ServiceError> {
        Ok(self.store.api_tokens_of(&who.user, self.clock.now()).await?)
    }

    /// Revokes token `id`, which must be `who`'s own unless `who` is an admin. Audited after
    /// the token is gone, so a failure to record it never leaves the token working.
    pub async fn revoke_api_token(&self, who: &Identity, id: TokenId) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let Some(token) = self.store.api_token(id, now).await? else {
            return Err(ServiceError::TokenNotFound);
        };
        if token.identity.user != who.user && !self.policies.roles.is_admin(who) {
            // Someone else's token: as if it did not exist.
            return Err(ServiceError::TokenNotFound);
        }
        if self.store.delete_api_token(id).await?.is_some() {
            self.tell_locally(&[ChangeEvent::ApiTokenRevoked { id }]);
            let id = AuditId::from(self.ids.next(now));
            self.audit(AuditEvent::api_token(id, now, &who.user, &token, false)).await?;
        }
        Ok(())
    }

    /// Revokes every token of `user` (an admin ending their sessions), each audited.
    pub(super) async fn revoke_api_tokens_of(
        &self,
        admin: &Identity,
        user: &crate::ids::UserId,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        for token in self.store.api_tokens_of(user, now).await? {
            if self.store.delete_api_token(token.id).await?.is_some() {
                self.tell_locally(&[ChangeEvent::ApiTokenRevoked { id: token.id }]);
                let id = AuditId::from(self.ids.next(now));
                self.audit(AuditEvent::api_token(id, now, &admin.user, &token, false)).await?;
            }
        }
        Ok(())
    }

    /// Who a presented `jgt_…` token acts as; `None` when it is malformed, unknown, expired,
    /// revoked or its secret is wrong (all alike to the caller).
    pub async fn api_token_identity(
        &self,
        presented: &str,
    ) -> Result<Option<Identity>, ServiceError> {
        let Some((id, secret)) = api_token::parse(presented) else { return Ok(None) };
        let now = self.clock.now();
        let token = self.store.api_token(id, now).await?;
        Ok(token.filter(|token| token.accepts(secret, now)).map(|token| token.identity))
    }
}
