//! Reading what `manage.py showmigrations` and `manage.py migrate APP TARGET --plan` print.

use rb_common::error::{Result, failed};

use crate::{AppState, Migration, PlanStep};

/// `showmigrations` (plain list): an app name on its own line, then ` [X] name` / ` [ ] name`
/// lines (a squashed migration adds ` (N squashed migrations)`), or ` (no migrations)`.
pub fn showmigrations(text: &str) -> Result<Vec<AppState>> {
    let mut apps: Vec<AppState> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if !line.starts_with(' ') {
            apps.push(AppState { app: line.trim().to_string(), migrations: Vec::new() });
            continue;
        }
        let item = line.trim();
        if item == "(no migrations)" {
            continue;
        }
        let (applied, rest) =
            match (item.strip_prefix("[X] "), item.strip_prefix("[ ] "), item.strip_prefix("[-] ")) {
                (Some(rest), _, _) => (true, rest),
                (_, Some(rest), _) => (false, rest),
                // Django marks a squashed migration whose replaced ones are partly applied `[-]`.
                (_, _, Some(rest)) => (false, rest),
                _ => {
                    return Err(failed(format!(
                        "`manage.py showmigrations` printed a line rb cannot read: {line:?}"
                    )));
                }
            };
        let name = rest.split(" (").next().unwrap_or(rest).trim().to_string();
        let app = apps.last_mut().ok_or_else(|| {
            failed(format!("`manage.py showmigrations` printed a migration before any app: {line:?}"))
        })?;
        app.migrations.push(Migration { name, applied });
    }
    Ok(apps)
}

/// `migrate APP TARGET --plan`: `Planned operations:` then, per migration, `app.name` and its
/// operations indented; an operation Django cannot undo ends `-> IRREVERSIBLE`. Direction is
/// not printed for every operation, so it is filled in by the caller from the state.
pub fn plan(text: &str) -> Result<Vec<PlanStep>> {
    let mut steps: Vec<PlanStep> = Vec::new();
    let mut started = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with("Planned operations:") {
            started = true;
            continue;
        }
        if line.trim().starts_with("No planned migration operations") {
            return Ok(Vec::new());
        }
        if !started {
            continue;
        }
        if let Some(op) = line.strip_prefix("    ") {
            let step = steps.last_mut().ok_or_else(|| {
                failed(format!("`migrate --plan` printed an operation before any migration: {line:?}"))
            })?;
            if op.trim_end().ends_with("-> IRREVERSIBLE") {
                step.irreversible = true;
            }
            step.operations.push(op.trim().to_string());
            continue;
        }
        let (app, name) = line
            .trim()
            .split_once('.')
            .ok_or_else(|| failed(format!("`migrate --plan` printed a line rb cannot read: {line:?}")))?;
        steps.push(PlanStep {
            migration: format!("{app}.{name}"),
            app: app.to_string(),
            name: name.to_string(),
            direction: String::new(),
            irreversible: false,
            operations: Vec::new(),
            faked: false,
        });
    }
    if !started {
        return Err(
            failed("`migrate --plan` printed no plan").details(text.lines().map(String::from).collect())
        );
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_showmigrations() {
        let apps = showmigrations(
            "auth\n [X] 0001_initial\nfeatures\n [X] 0001_initial\n [ ] 0002_x (2 squashed migrations)\nempty\n (no migrations)\n",
        )
        .unwrap();
        assert_eq!(apps.len(), 3);
        assert_eq!(apps[1].migrations[1], Migration { name: "0002_x".into(), applied: false });
        assert!(apps[2].migrations.is_empty());
        assert!(showmigrations(" [X] 0001\n").is_err());
    }

    #[test]
    fn reads_a_plan_with_an_irreversible_step() {
        let steps = plan(
            "Planned operations:\ntickets.0004_ticket_closed_at\n    Undo Add field closed_at to ticket\ntickets.0003_normalize_priority\n    Raw Python operation -> IRREVERSIBLE\n",
        )
        .unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(
            (steps[0].migration.as_str(), steps[0].irreversible),
            ("tickets.0004_ticket_closed_at", false)
        );
        assert_eq!((steps[1].name.as_str(), steps[1].irreversible), ("0003_normalize_priority", true));
        assert!(plan("Planned operations:\n  No planned migration operations.\n").unwrap().is_empty());
        assert!(plan("Traceback …\n").is_err());
    }
}
