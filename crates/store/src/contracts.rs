use crate::error::is_unique_violation;
use crate::{Store, StoreError};
use hikyaku_model::{Contract, ContractState, CustomerId, Timestamp};

#[derive(sqlx::FromRow)]
pub(crate) struct ContractRow {
    customer_id: String,
    name: String,
    plan: String,
    state: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl ContractRow {
    pub(crate) fn into_contract(self) -> Result<Contract, StoreError> {
        Ok(Contract {
            customer_id: self
                .customer_id
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("contracts.customer_id: {e}")))?,
            name: self.name,
            plan: self.plan,
            state: self
                .state
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("contracts.state: {e}")))?,
            created_at: Timestamp(self.created_at),
            last_used_at: self.last_used_at.map(Timestamp),
        })
    }
}

/// How many times a freshly generated customer ID may collide before we give up; with 29^9
/// possible IDs, even the second try is for show.
const ID_ATTEMPTS: usize = 3;

impl Store {
    /// Opens a new contract in the `trial` state under a freshly generated customer ID.
    pub async fn create_contract(&self, name: &str, plan: &str) -> Result<Contract, StoreError> {
        let name = name.trim();
        let plan = plan.trim();
        if name.is_empty() {
            return Err(StoreError::invalid("contract name", "must not be empty"));
        }
        if plan.is_empty() {
            return Err(StoreError::invalid("plan", "must not be empty"));
        }
        let mut last_error = None;
        for _ in 0..ID_ATTEMPTS {
            let contract = Contract {
                customer_id: CustomerId::generate(),
                name: name.to_string(),
                plan: plan.to_string(),
                state: ContractState::Trial,
                created_at: Timestamp::now(),
                last_used_at: None,
            };
            let inserted = with_pool!(self, pool => {
                // An ID whose contract was deleted is never given again.
                sqlx::query(
                    "INSERT INTO contracts (customer_id, name, plan, state, created_at) \
                     SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS \
                     (SELECT 1 FROM deleted_contracts WHERE customer_id = $1)",
                )
                .bind(contract.customer_id.as_str())
                .bind(&contract.name)
                .bind(&contract.plan)
                .bind(contract.state.as_str())
                .bind(contract.created_at.as_millis())
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
            });
            match inserted {
                Ok(1) => return Ok(contract),
                Ok(_) => continue,
                Err(e) if is_unique_violation(&e) => last_error = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        match last_error {
            Some(e) => Err(e.into()),
            None => Err(StoreError::invalid(
                "customer ID",
                "every generated ID was one of a deleted contract",
            )),
        }
    }

    pub async fn contract(&self, id: &CustomerId) -> Result<Option<Contract>, StoreError> {
        let row: Option<ContractRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT customer_id, name, plan, state, created_at, last_used_at \
                 FROM contracts WHERE customer_id = $1",
            )
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?
        });
        row.map(ContractRow::into_contract).transpose()
    }

    /// Every contract, oldest first.
    pub async fn contracts(&self) -> Result<Vec<Contract>, StoreError> {
        let rows: Vec<ContractRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT customer_id, name, plan, state, created_at, last_used_at \
                 FROM contracts ORDER BY created_at, customer_id",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(ContractRow::into_contract).collect()
    }

    /// Moves a contract to `state`. A terminated contract is final and refuses every change
    /// (its customer ID must never come back to life with another tenant's data in mind).
    /// Terminating notes when (the first time), which schedules the deletion of its data.
    pub async fn set_contract_state(
        &self,
        id: &CustomerId,
        state: ContractState,
    ) -> Result<Contract, StoreError> {
        let row: Option<ContractRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE contracts SET state = $2, terminated_at = CASE WHEN $2 = 'terminated' \
                 THEN COALESCE(terminated_at, $3) ELSE terminated_at END \
                 WHERE customer_id = $1 AND (state <> 'terminated' OR $2 = 'terminated') \
                 RETURNING customer_id, name, plan, state, created_at, last_used_at",
            )
            .bind(id.as_str())
            .bind(state.as_str())
            .bind(Timestamp::now().as_millis())
            .fetch_optional(pool)
            .await?
        });
        match row {
            Some(row) => row.into_contract(),
            None => match self.contract(id).await? {
                Some(_) => Err(StoreError::ContractTerminated(id.clone())),
                None => Err(StoreError::ContractNotFound(id.clone())),
            },
        }
    }

    /// Fails with [`StoreError::ContractNotFound`] unless the contract exists.
    pub(crate) async fn require_contract(&self, id: &CustomerId) -> Result<Contract, StoreError> {
        self.contract(id)
            .await?
            .ok_or_else(|| StoreError::ContractNotFound(id.clone()))
    }
}
