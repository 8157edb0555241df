//! What the listeners and the front ends share: the request and response
//! types, the [`FrontEnd`] trait a front end implements and the router that
//! picks one by path prefix (`routing`), and the failed-authentication
//! throttle the front ends consult (`throttle`).
//!
//! A leaf under the front ends: `acme`, `est` and `admin` import it, and
//! `server` (which binds the sockets and mounts the front ends) imports them,
//! so no front end imports the server that mounts it.

pub mod routing;
pub mod throttle;

pub use routing::{BoxFuture, FrontEnd, HttpRequest, HttpResponse, RouteLabel, Router};
