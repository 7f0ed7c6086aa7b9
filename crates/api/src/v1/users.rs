//! The contract's console users and API keys (admins only).

use super::ApiState;
use super::access::ContractCaller;
use super::error::{ApiError, ApiJson, ApiPath, ApiQuery, Failures};
use super::paging::{ListKind, PageQuery, encode};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hikyaku_api_types::{
    ApiKey, ApiKeyPage, CreateApiKey, CreateUser, CreatedApiKey, NewUser, User, UserPage,
};
use hikyaku_model::Role;
use hikyaku_store::{IdPage, KeepAnAdmin, StoreError};

/// A caller cannot give more than it has: only a key that sees addresses may make a user or
/// key that does.
fn grantable(caller: &ContractCaller, see_addresses: bool) -> Result<(), ApiError> {
    if see_addresses && !caller.see_addresses {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only a key that sees addresses may grant seeing them",
        )
        .with_field("see_addresses"));
    }
    Ok(())
}

fn role(text: &str) -> Result<Role, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid("role", "the role is admin, sender, viewer or billing"))
}

/// The store's page of IDs after the cursor, one more than asked to learn whether more follow.
fn id_page(kind: ListKind, query: &PageQuery) -> Result<(IdPage, usize), ApiError> {
    let limit = query.limit()?;
    let after = query
        .after(kind)?
        .map(|bytes| {
            String::from_utf8(bytes).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_cursor",
                    "not a cursor of this list",
                )
                .with_field("cursor")
            })
        })
        .transpose()?;
    Ok((
        IdPage {
            after,
            limit: Some(limit + 1),
        },
        limit as usize,
    ))
}

fn next_page<T>(
    kind: ListKind,
    rows: &mut Vec<T>,
    limit: usize,
    id: impl Fn(&T) -> &str,
) -> Option<String> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|row| encode(kind, id(row).as_bytes()))
}

fn limits(error: StoreError) -> ApiError {
    match error {
        e @ StoreError::TooManyCredentials { .. } => {
            ApiError::conflict("too_many_credentials", e.to_string())
        }
        StoreError::EmailTaken(_) => ApiError::conflict(
            "already_exists",
            "the contract already has a console user with this e-mail address",
        )
        .with_field("email"),
        StoreError::Invalid { what, reason } => {
            let field = match what {
                w if w.contains("password") => "password",
                w if w.contains("e-mail") => "email",
                _ => "name",
            };
            ApiError::invalid(field, format!("invalid {what}: {reason}"))
        }
        e => e.into(),
    }
}

fn shown_user(caller: &ContractCaller, user: hikyaku_store::ConsoleUser) -> User {
    User {
        id: user.user_id,
        customer_id: user.customer_id,
        email: caller.show(&user.email),
        role: user.role,
        see_addresses: user.see_addresses,
        created_at: user.created_at.into(),
    }
}

fn shown_key(key: hikyaku_store::ApiKey) -> ApiKey {
    ApiKey {
        id: key.key_id,
        customer_id: key.customer_id,
        name: key.name,
        prefix: key.prefix,
        role: key.role,
        see_addresses: key.see_addresses,
        created_at: key.created_at.into(),
    }
}

/// The contract's console users, oldest first.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    params(PageQuery),
    responses((status = 200, body = UserPage), Failures)
)]
pub async fn list_users(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let (page, limit) = id_page(ListKind::ConsoleUsers, &query)?;
    let mut users = state
        .store()
        .console_users(&caller.customer_id, &page)
        .await?;
    let next_cursor = next_page(ListKind::ConsoleUsers, &mut users, limit, |u| &u.user_id);
    Ok(Json(UserPage {
        data: users.into_iter().map(|u| shown_user(&caller, u)).collect(),
        next_cursor,
    }))
}

/// Adds a console user. Without a password, one is generated and shown in this answer only.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = CreateUser,
    responses((status = 201, body = NewUser), Failures)
)]
pub async fn create_user(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiJson(new): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<NewUser>), ApiError> {
    let role = role(&new.role)?;
    grantable(&caller, new.see_addresses)?;
    let generated = new.password.is_none();
    let password = new
        .password
        .unwrap_or_else(hikyaku_store::generate_password);
    let user = state
        .store()
        .create_console_user(
            &caller.customer_id,
            &hikyaku_store::NewConsoleUser {
                email: &new.email,
                password: &password,
                role,
                see_addresses: new.see_addresses,
            },
        )
        .await
        .map_err(limits)?;
    Ok((
        StatusCode::CREATED,
        Json(NewUser {
            user: shown_user(&caller, user),
            password: generated.then_some(password),
        }),
    ))
}

/// One console user.
#[utoipa::path(
    get,
    path = "/users/{user_id}",
    tag = "users",
    params(("user_id" = String, Path)),
    responses((status = 200, body = User), Failures)
)]
pub async fn show_user(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(user_id): ApiPath<String>,
) -> Result<Json<User>, ApiError> {
    match state
        .store()
        .console_user(&caller.customer_id, &user_id)
        .await?
    {
        Some(user) => Ok(Json(shown_user(&caller, user))),
        None => Err(ApiError::not_found("console user")),
    }
}

/// Removes a console user.
#[utoipa::path(
    delete,
    path = "/users/{user_id}",
    tag = "users",
    params(("user_id" = String, Path)),
    responses((status = 204, description = "Removed"), Failures)
)]
pub async fn remove_user(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(user_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    // The store also takes an e-mail address here; the API names users by ID only, so an
    // address never travels in a URL.
    if user_id.contains('@') {
        return Err(ApiError::not_found("console user"));
    }
    match state
        .store()
        .remove_console_user(&caller.customer_id, &user_id, KeepAnAdmin::Yes)
        .await
    {
        Ok(Some(_)) => Ok(StatusCode::NO_CONTENT),
        Ok(None) => Err(ApiError::not_found("console user")),
        Err(StoreError::LastAdmin(_)) => Err(ApiError::conflict(
            "last_admin",
            "this is the contract's last admin user: make another user admin first",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The contract's API keys, oldest first (never their secrets).
#[utoipa::path(
    get,
    path = "/api-keys",
    tag = "users",
    params(PageQuery),
    responses((status = 200, body = ApiKeyPage), Failures)
)]
pub async fn list_api_keys(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ApiKeyPage>, ApiError> {
    let (page, limit) = id_page(ListKind::ApiKeys, &query)?;
    let mut keys = state.store().api_keys(&caller.customer_id, &page).await?;
    let next_cursor = next_page(ListKind::ApiKeys, &mut keys, limit, |k| &k.key_id);
    Ok(Json(ApiKeyPage {
        data: keys.into_iter().map(shown_key).collect(),
        next_cursor,
    }))
}

/// Creates an API key; its secret is in this answer only.
#[utoipa::path(
    post,
    path = "/api-keys",
    tag = "users",
    request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), Failures)
)]
pub async fn create_api_key(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiJson(new): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let role = role(&new.role)?;
    grantable(&caller, new.see_addresses)?;
    let (key, secret) = state
        .store()
        .create_api_key(
            &caller.customer_id,
            &hikyaku_store::NewApiKey {
                name: &new.name,
                role,
                see_addresses: new.see_addresses,
            },
        )
        .await
        .map_err(limits)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            api_key: shown_key(key),
            key: secret,
        }),
    ))
}

/// One API key (never its secret).
#[utoipa::path(
    get,
    path = "/api-keys/{key_id}",
    tag = "users",
    params(("key_id" = String, Path)),
    responses((status = 200, body = ApiKey), Failures)
)]
pub async fn show_api_key(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(key_id): ApiPath<String>,
) -> Result<Json<ApiKey>, ApiError> {
    match state.store().api_key(&caller.customer_id, &key_id).await? {
        Some(key) => Ok(Json(shown_key(key))),
        None => Err(ApiError::not_found("API key")),
    }
}

/// Revokes an API key: it is refused from the next request on.
#[utoipa::path(
    delete,
    path = "/api-keys/{key_id}",
    tag = "users",
    params(("key_id" = String, Path)),
    responses((status = 204, description = "Revoked"), Failures)
)]
pub async fn revoke_api_key(
    State(state): State<ApiState>,
    caller: ContractCaller,
    ApiPath(key_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    match state
        .store()
        .revoke_api_key(&caller.customer_id, &key_id)
        .await?
    {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::not_found("API key")),
    }
}
