//! The `django` backend: a fixed program run by `manage.py shell --no-imports -v 0 -c`,
//! reading its request as JSON on stdin and answering JSON, every change in one transaction.

use std::collections::BTreeMap;
use std::path::Path;

use rb_common::config::Config;
use rb_common::django::Django;
use rb_common::error::{Result, failed};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Backend, FlagsConfig, Replaced, as_text, unknown};

/// The program: names and values arrive as data (JSON on stdin), never as code.
const PROGRAM: &str = r#"
import importlib, json, sys
from django.core.exceptions import ValidationError
from django.db import transaction

request = json.load(sys.stdin)
module, _, cls = request["model"].rpartition(".")
Model = getattr(importlib.import_module(module), cls)
nf, vf = request["name_field"], request["value_field"]


def text(obj):
    return str(getattr(obj, vf))


class Refused(Exception):
    pass


answer = {"ok": True}
try:
    if request["op"] == "list":
        objects = Model.objects.all()
        if request["names"]:
            objects = objects.filter(**{nf + "__in": request["names"]})
        answer["flags"] = {getattr(o, nf): text(o) for o in objects}
        answer["unknown"] = [n for n in request["names"] if n not in answer["flags"]]
    else:
        with transaction.atomic():
            names = [name for name, _ in request["set"]] + request["remove"]
            existing = {getattr(o, nf): o for o in Model.objects.select_for_update().filter(**{nf + "__in": names})}
            missing = [name for name, _ in request["set"] if name not in existing]
            if missing and not request["create"]:
                answer.update(ok=False, unknown=missing)
                raise Refused()
            before, absent = {}, []
            for name, value in request["set"]:
                obj = existing.get(name)
                if obj is None:
                    obj = Model(**{nf: name})
                    absent.append(name)
                else:
                    before[name] = text(obj)
                setattr(obj, vf, value)
                obj.full_clean(validate_unique=False)
                obj.save()
            for name in request["remove"]:
                obj = existing.get(name)
                if obj is not None:
                    before[name] = text(obj)
                    obj.delete()
                else:
                    absent.append(name)
            answer.update(before=before, absent=absent)
            if request["dry_run"]:
                raise Refused()
except Refused:
    pass
except ValidationError as e:
    answer = {"ok": False, "invalid": {k: [str(m) for m in v] for k, v in e.message_dict.items()}}
print(json.dumps(answer))
"#;

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    flags: BTreeMap<String, String>,
    #[serde(default)]
    unknown: Vec<String>,
    #[serde(default)]
    before: BTreeMap<String, String>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    invalid: BTreeMap<String, Vec<String>>,
}

/// Flags in the Django model `[flags]` names.
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
        if !answer.ok {
            return Err(failed("the flags program refused the request; nothing was changed"));
        }
        Ok(answer)
    }
}

fn strings(map: BTreeMap<String, String>) -> BTreeMap<String, Value> {
    map.into_iter().map(|(k, v)| (k, Value::String(v))).collect()
}

impl Backend for DjangoFlags {
    fn name(&self) -> &'static str {
        "django"
    }

    fn list(&self, names: &[String]) -> Result<BTreeMap<String, Value>> {
        Ok(strings(self.call(json!({ "op": "list", "names": names }))?.flags))
    }

    fn set(
        &self,
        changes: &[(String, Value)],
        remove: &[String],
        create: bool,
        dry_run: bool,
    ) -> Result<Replaced> {
        let set: Vec<(&str, String)> = changes.iter().map(|(n, v)| (n.as_str(), as_text(v))).collect();
        let answer = self.call(
            json!({ "op": "set", "set": set, "remove": remove, "create": create, "dry_run": dry_run }),
        )?;
        Ok(Replaced { before: strings(answer.before), absent: answer.absent })
    }
}
