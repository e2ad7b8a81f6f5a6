//! `buntime status`: what the current remote runs, and whether it is ready.

use serde_json::{Value, json};

use super::{Target, cell, emit};
use crate::failure::{Failure, Kind, Outcome};

/// Exits 0 when the runtime is ready, 1 when it answers but is not (starting, draining, degraded).
pub(crate) fn run(target: &Target) -> Outcome {
    let (remote, client) = target.connect()?;
    let (_, ready) = client.get_report("/health/ready")?;
    let loaded = client.get("/plugins/loaded").unwrap_or(Value::Null);
    let apps = match client.get("/apps") {
        Ok(v) => v,
        Err(f) if matches!(f.kind, Kind::Auth | Kind::NotFound) => Value::Null,
        Err(f) => return Err(f),
    };
    let out = json!({ "remote": remote, "url": client.url(), "ready": ready, "plugins": loaded, "apps": apps });
    emit(target.json, &out, || {
        let count = |v: &Value| {
            v.as_array()
                .map_or_else(|| "? (needs apps:read)".to_owned(), |a| a.len().to_string())
        };
        let mut s = format!("remote      {remote} ({})\n", client.url());
        s.push_str(&format!("version     {}\n", cell(&ready["version"])));
        s.push_str(&format!("status      {}\n", cell(&ready["status"])));
        s.push_str(&format!("generation  {}\n", cell(&ready["generation"])));
        s.push_str(&format!(
            "plugins     {} loaded\n",
            loaded.as_array().map_or(0, Vec::len)
        ));
        s.push_str(&format!("apps        {}\n", count(&apps)));
        for key in ["unavailable", "failed"] {
            if let Some(list) = ready[key].as_array().filter(|l| !l.is_empty()) {
                s.push_str(&format!(
                    "{key:<11} {}\n",
                    cell(&Value::Array(list.clone()))
                ));
            }
        }
        s
    });
    if ready["ok"] == true {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "`{remote}` is not ready ({})",
            cell(&ready["status"])
        )))
    }
}
