//! The one way statements reach the database: every executor this crate hands out (`&Pool`,
//! `&mut Conn`, reached from a [`Tx`] or a [`PooledConn`]) passes each statement through
//! [`Backend::sql`] first, so a statement written with `$N` placeholders is bound by position on
//! SQLite wherever it runs. sqlx's own `AnyPool` and `AnyConnection` stay inside this module:
//! a caller cannot skip the rewrite, because it never holds an executor that does not do it.

use std::{
    borrow::Cow,
    ops::{Deref, DerefMut},
};

use either::Either;
use futures::{future::BoxFuture, stream::BoxStream, FutureExt, StreamExt, TryStreamExt};
use ref_cast::RefCast;
use sqlx::{
    any::{AnyArguments, AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo},
    pool::PoolConnection,
    Any, AnyConnection, AnyPool, Describe, Error, Execute, Executor,
};

use super::Backend;

/// A connection pool; `&Pool` is an executor.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: AnyPool,
    backend: Backend,
}

/// One database connection (of a transaction or taken from a pool); `&mut Conn` is an executor.
#[derive(Debug, RefCast)]
#[repr(transparent)]
pub struct Conn(AnyConnection);

/// A transaction: `&mut **tx` (or `&mut *tx` on an owned one) is its connection. Dropped
/// without [`Tx::commit`], it rolls back.
#[derive(Debug)]
pub struct Tx(sqlx::Transaction<'static, Any>);

/// A connection taken from a [`Pool`], returned to it when dropped.
#[derive(Debug)]
pub struct PooledConn(PoolConnection<Any>);

impl Pool {
    pub(super) fn new(inner: AnyPool, backend: Backend) -> Pool {
        Pool { inner, backend }
    }

    /// sqlx's pool, for what runs no statement of ours (migrations, closing).
    pub(super) fn raw(&self) -> &AnyPool {
        &self.inner
    }

    pub async fn acquire(&self) -> Result<PooledConn, Error> {
        self.inner.acquire().await.map(PooledConn)
    }

    pub async fn begin(&self) -> Result<Tx, Error> {
        self.inner.begin().await.map(Tx)
    }

    pub(super) async fn begin_with(&self, statement: &'static str) -> Result<Tx, Error> {
        self.inner.begin_with(statement).await.map(Tx)
    }
}

impl Conn {
    /// The backend this connection talks to.
    pub fn backend(&self) -> Backend {
        if self.0.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), Error> {
        self.0.commit().await
    }

    pub async fn rollback(self) -> Result<(), Error> {
        self.0.rollback().await
    }
}

impl Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        Conn::ref_cast(&self.0)
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Conn {
        Conn::ref_cast_mut(&mut self.0)
    }
}

impl Deref for PooledConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        Conn::ref_cast(&self.0)
    }
}

impl DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut Conn {
        Conn::ref_cast_mut(&mut self.0)
    }
}

/// A statement whose text was rewritten: the rewritten text, with the original's arguments.
struct Rewritten<'q> {
    sql: &'q str,
    arguments: Option<AnyArguments<'q>>,
    persistent: bool,
}

impl<'q> Execute<'q, Any> for Rewritten<'q> {
    fn sql(&self) -> &'q str {
        self.sql
    }

    fn statement(&self) -> Option<&AnyStatement<'q>> {
        None
    }

    fn take_arguments(&mut self) -> Result<Option<AnyArguments<'q>>, sqlx::error::BoxDynError> {
        Ok(self.arguments.take())
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

/// A statement whose text `Backend::sql` changed: the new text, owned, with the statement's
/// arguments.
struct Owned<'q> {
    sql: String,
    arguments: Option<AnyArguments<'q>>,
    persistent: bool,
}

impl<'q> Owned<'q> {
    /// `query`'s rewritten text and arguments; `None` when it runs as written.
    fn of<E: Execute<'q, Any>>(
        backend: Backend,
        query: &mut E,
    ) -> Result<Option<Owned<'q>>, Error> {
        let sql = match backend.sql(query.sql()) {
            Cow::Borrowed(_) => return Ok(None),
            Cow::Owned(sql) => sql,
        };
        Ok(Some(Owned {
            sql,
            arguments: query.take_arguments().map_err(Error::Encode)?,
            persistent: query.persistent(),
        }))
    }
}

/// `query` through `inner`, its text rewritten for `backend` first (when that changes it).
fn fetch_many<'c, 'e, 'q: 'e, X, E>(
    inner: X,
    backend: Backend,
    mut query: E,
) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, Error>>
where
    X: Executor<'c, Database = Any> + 'e,
    'c: 'e,
    E: 'q + Execute<'q, Any>,
{
    let owned = match Owned::of(backend, &mut query) {
        Ok(None) => return inner.fetch_many(query),
        Ok(Some(owned)) => owned,
        Err(error) => return futures::stream::once(async { Err(error) }).boxed(),
    };
    async_stream::try_stream! {
        let statement = Rewritten { sql: &owned.sql, arguments: owned.arguments, persistent: owned.persistent };
        let mut rows = inner.fetch_many(statement);
        while let Some(row) = rows.try_next().await? {
            yield row;
        }
    }
    .boxed()
}

fn fetch_optional<'c, 'e, 'q: 'e, X, E>(
    inner: X,
    backend: Backend,
    mut query: E,
) -> BoxFuture<'e, Result<Option<AnyRow>, Error>>
where
    X: Executor<'c, Database = Any> + 'e,
    'c: 'e,
    E: 'q + Execute<'q, Any>,
{
    let owned = match Owned::of(backend, &mut query) {
        Ok(None) => return inner.fetch_optional(query),
        Ok(Some(owned)) => owned,
        Err(error) => return futures::future::ready(Err(error)).boxed(),
    };
    async move {
        let statement = Rewritten {
            sql: &owned.sql,
            arguments: owned.arguments,
            persistent: owned.persistent,
        };
        inner.fetch_optional(statement).await
    }
    .boxed()
}

/// Implements `Executor` for a wrapper by handing each statement, rewritten, to sqlx's own
/// executor for the same connection or pool (`$inner`). Preparing and describing (which bind
/// nothing) pass through as written.
macro_rules! rewriting_executor {
    ($ty:ty, $lt:lifetime, $self:ident => $inner:expr, $backend:expr) => {
        impl<$lt> Executor<$lt> for $ty {
            type Database = Any;

            fn fetch_many<'e, 'q: 'e, E>(
                $self,
                query: E,
            ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, Error>>
            where
                $lt: 'e,
                E: 'q + Execute<'q, Any>,
            {
                let backend = $backend;
                fetch_many($inner, backend, query)
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                $self,
                query: E,
            ) -> BoxFuture<'e, Result<Option<AnyRow>, Error>>
            where
                $lt: 'e,
                E: 'q + Execute<'q, Any>,
            {
                let backend = $backend;
                fetch_optional($inner, backend, query)
            }

            fn prepare_with<'e, 'q: 'e>(
                $self,
                sql: &'q str,
                parameters: &'e [AnyTypeInfo],
            ) -> BoxFuture<'e, Result<AnyStatement<'q>, Error>>
            where
                $lt: 'e,
            {
                $inner.prepare_with(sql, parameters)
            }

            fn describe<'e, 'q: 'e>(
                $self,
                sql: &'q str,
            ) -> BoxFuture<'e, Result<Describe<Any>, Error>>
            where
                $lt: 'e,
            {
                $inner.describe(sql)
            }
        }
    };
}

rewriting_executor!(&'p Pool, 'p, self => &self.inner, self.backend);
rewriting_executor!(&'c mut Conn, 'c, self => &mut self.0, self.backend());
