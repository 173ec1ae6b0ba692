//! One module per command.

pub(crate) mod compare;
pub(crate) mod compress;
pub(crate) mod corpus;
pub(crate) mod merge;
pub(crate) mod part;
pub(crate) mod print_scenario;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod runtime;
pub(crate) mod serve;
pub(crate) mod sweep;
pub(crate) mod validate;
