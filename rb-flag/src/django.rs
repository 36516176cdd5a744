//! The `django` backend: a fixed program run by `manage.py shell --no-imports -v 0 -c`,
//! reading its request as JSON on stdin and answering JSON, every change in one transaction.

use std::collections::BTreeMap;
use std::path::Path;

use rb_common::config::{Config, FILE};
use rb_common::django::Django;
use rb_common::error::{Result, failed, usage};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Backend, FlagsConfig, Replaced, as_text, unknown};

/// The program: names and values arrive as data (JSON on stdin), never as code.
const PROGRAM: &str = r#"
import importlib, json, sys
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import transaction

request = json.load(sys.stdin)
answer = {"ok": True}


class Refused(Exception):
    pass


def config_error(text):
    answer.update(ok=False, config=text)
    raise Refused()


def model():
    module, _, cls = request["model"].rpartition(".")
    try:
        found = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError, ValueError):
        config_error(f"model {request['model']!r} cannot be imported")
    for key in ("name_field", "value_field"):
        try:
            field = found._meta.get_field(request[key])
        except FieldDoesNotExist:
            config_error(f"{request['model']} has no field {request[key]!r} ({key})")
        if not field.concrete or field.is_relation:
            config_error(f"{request['model']}.{request[key]} is not a plain field ({key})")
    if not found._meta.get_field(request["name_field"]).unique:
        config_error(f"{request['model']}.{request['name_field']} is not unique: it cannot name flags")
    return found


def text(obj, vf):
    value = getattr(obj, vf)
    return None if value is None else str(value)


try:
    Model = model()
    nf, vf = request["name_field"], request["value_field"]
    if request["op"] == "list":
        objects = Model.objects.all()
        if request["names"]:
            objects = objects.filter(**{nf + "__in": request["names"]})
        answer["flags"] = {getattr(o, nf): text(o, vf) for o in objects}
        answer["unknown"] = [n for n in request["names"] if n not in answer["flags"]]
    else:
        dry = request["dry_run"]
        with transaction.atomic():
            names = [name for name, _ in request["set"]] + request["remove"]
            rows = Model.objects.filter(**{nf + "__in": names})
            existing = {getattr(o, nf): o for o in (rows if dry else rows.select_for_update())}
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
                    before[name] = text(obj, vf)
                setattr(obj, vf, value)
                obj.full_clean(validate_unique=False)
                if not dry:
                    obj.save()
                    obj.refresh_from_db()
                    if text(obj, vf) != value:
                        answer.update(ok=False, mismatch=name)
                        raise Refused()
            for name in request["remove"]:
                obj = existing.get(name)
                if obj is None:
                    continue
                before[name] = text(obj, vf)
                if not dry:
                    obj.delete()
            answer.update(before=before, absent=absent)
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
    config: Option<String>,
    #[serde(default)]
    mismatch: Option<String>,
    #[serde(default)]
    flags: BTreeMap<String, Option<String>>,
    #[serde(default)]
    unknown: Vec<String>,
    #[serde(default)]
    before: BTreeMap<String, Option<String>>,
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
        if !answer.ok {
            return Err(failed("the flags program refused the request; nothing was changed"));
        }
        Ok(answer)
    }
}

/// Values as documents carry them: strings, and `null` for a NULL.
fn strings(map: BTreeMap<String, Option<String>>) -> BTreeMap<String, Value> {
    map.into_iter().map(|(k, v)| (k, v.map_or(Value::Null, Value::String))).collect()
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
        let set: Vec<(&str, Option<String>)> =
            changes.iter().map(|(n, v)| (n.as_str(), (!v.is_null()).then(|| as_text(v)))).collect();
        let answer = self.call(
            json!({ "op": "set", "set": set, "remove": remove, "create": create, "dry_run": dry_run }),
        )?;
        Ok(Replaced { before: strings(answer.before), absent: answer.absent })
    }
}
