//! The `django` backend: a fixed program run by `manage.py shell --no-imports -v 0 -c`,
//! reading its request as JSON on stdin and answering JSON, every change in one transaction.
//!
//! Values are typed by the value field's `get_internal_type()`: a `BooleanField` (with or
//! without `null=True`) takes true/false, on/off, yes/no or 1/0 in any case, the
//! `IntegerField` family (Small, Big, Positive, PositiveSmall, PositiveBig) whole numbers
//! within the type's range, `CharField`/`TextField` any text; `null` is NULL only where the
//! field has `null=True`. Any other type is refused (exit 2) before anything is read. A
//! document's values (`restore`) go through the same rules, so the strings of an older
//! `flags_*.json` (`"True"`, `"25"`) still restore; the value read back after the save is
//! compared with the converted one, and documents carry values as JSON of their type.

use std::collections::BTreeMap;
use std::path::Path;

use rb_common::config::{Config, FILE};
use rb_common::django::Django;
use rb_common::error::{Result, failed, usage};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Backend, FlagsConfig, Given, Replaced, ValueField, unknown};

/// The program: names and values arrive as data (JSON on stdin), never as code.
const PROGRAM: &str = include_str!("django.py");

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    config: Option<String>,
    #[serde(default)]
    field: Option<ValueField>,
    #[serde(default)]
    mismatch: Option<String>,
    #[serde(default)]
    cannot_hold: Option<String>,
    #[serde(default)]
    flags: BTreeMap<String, Value>,
    #[serde(default)]
    unknown: Vec<String>,
    #[serde(default)]
    before: BTreeMap<String, Value>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    invalid: BTreeMap<String, Vec<String>>,
}

/// Flags in the Django model `[flags]` names, their values typed by its value field.
pub struct DjangoFlags {
    django: Django,
    flags: FlagsConfig,
}

impl DjangoFlags {
    /// The project's Django, with the model and fields from `[flags]`.
    pub fn new(config: &Config, root: &Path, flags: FlagsConfig) -> Result<DjangoFlags> {
        Ok(DjangoFlags { django: Django::new(config, root)?, flags })
    }

    fn call(&self, mut request: Value) -> Result<Answer> {
        request["model"] = json!(self.flags.model);
        request["name_field"] = json!(self.flags.name_field);
        request["value_field"] = json!(self.flags.value_field);
        let answer: Answer = self.django.call(PROGRAM, &request)?;
        if let Some(problem) = &answer.config {
            return Err(usage(format!("{FILE}: [flags]: {problem}"))
                .hint("[flags] model = \"apps.features.models.Feature\", name_field = \"name\", value_field = \"status\""));
        }
        if let Some(name) = &answer.mismatch {
            return Err(failed(format!(
                "{name} did not keep the value it was given (the model changes it on save); nothing was changed"
            )));
        }
        if !answer.unknown.is_empty() {
            return Err(unknown(&answer.unknown));
        }
        if !answer.invalid.is_empty() {
            let what: Vec<String> =
                answer.invalid.iter().map(|(f, m)| format!("{f}: {}", m.join(" "))).collect();
            return Err(failed(format!(
                "the model refused the values ({}); nothing was changed",
                what.join("; ")
            )));
        }
        if !answer.ok && answer.cannot_hold.is_none() {
            return Err(failed("the flags program refused the request; nothing was changed"));
        }
        Ok(answer)
    }

    /// `model.value_field`, as messages name it.
    fn field_path(&self) -> String {
        format!("{}.{}", self.flags.model, self.flags.value_field)
    }
}

impl Backend for DjangoFlags {
    fn name(&self) -> &'static str {
        "django"
    }

    fn value_field(&self) -> Result<Option<ValueField>> {
        let answer = self.call(json!({ "op": "field" }))?;
        Ok(answer.field)
    }

    fn list(&self, names: &[String]) -> Result<BTreeMap<String, Value>> {
        Ok(self.call(json!({ "op": "list", "names": names }))?.flags)
    }

    fn set(
        &self,
        changes: &[(String, Given)],
        remove: &[String],
        create: bool,
        dry_run: bool,
    ) -> Result<Replaced> {
        let set: Vec<(&str, Value)> = changes
            .iter()
            .map(|(n, g)| {
                let given = match g {
                    Given::Word(w) => json!({ "word": w }),
                    Given::Value(v) => json!({ "json": v }),
                };
                (n.as_str(), given)
            })
            .collect();
        let answer = self.call(
            json!({ "op": "set", "set": set, "remove": remove, "create": create, "dry_run": dry_run }),
        )?;
        if let Some(name) = &answer.cannot_hold {
            let given =
                changes.iter().find(|(n, _)| n == name).map(|(_, g)| g.to_string()).unwrap_or_default();
            let accepts = answer.field.as_ref().map(ValueField::accepts).unwrap_or_default();
            return Err(usage(format!(
                "{name}: {given} cannot go in {}: {accepts}; nothing was changed",
                self.field_path()
            )));
        }
        Ok(Replaced { before: answer.before, absent: answer.absent })
    }
}
