//! Client credentials with an app secret.

use futures::future::BoxFuture;

use super::AccessToken;
use super::cache::TokenSource;
use super::error::AuthError;
use super::settings::AuthContext;

pub(crate) struct ClientSecret {
    pub context: AuthContext,
    pub secret: String,
}

impl TokenSource for ClientSecret {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let ctx = &self.context;
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", ctx.client_id.as_str()),
                ("client_secret", self.secret.as_str()),
                ("scope", ctx.scope.as_str()),
            ];
            Ok(ctx.request_token(&form).await?.access)
        })
    }
}
