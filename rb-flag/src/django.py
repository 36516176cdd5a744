# rb-flag's django backend (rb-flag/src/django.rs): one request as JSON on stdin, one answer as JSON.
import importlib, json, re, sys
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import connection, transaction
from django.db.backends.base.operations import BaseDatabaseOperations

request = json.load(sys.stdin)
answer = {"ok": True}

# The value field's type decides what a value may be (DjangoFlags in rb-flag/src/django.rs).
KINDS = {"BooleanField": "boolean", "NullBooleanField": "boolean", "CharField": "text", "TextField": "text"}
for name in ("", "Small", "Big", "PositiveSmall", "Positive", "PositiveBig"):
    KINDS[name + "IntegerField"] = "integer"
TRUE, FALSE = ("true", "on", "yes", "1"), ("false", "off", "no", "0")
INTEGER = re.compile(r"[+-]?[0-9]+")


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


def describe(field):
    kind = field.get_internal_type()
    if kind not in KINDS:
        config_error(
            f"{request['model']}.{field.name} is a {kind}: rb-flag sets the values of a BooleanField, "
            "an IntegerField (Small, Big, Positive, PositiveSmall, PositiveBig), a CharField or a TextField (value_field)"
        )
    described = {"type": kind, "kind": KINDS[kind], "null": bool(field.null) or kind == "NullBooleanField"}
    if described["kind"] == "integer":
        # What the type holds anywhere (PostgreSQL's smallint…) and on this database.
        low, high = BaseDatabaseOperations.integer_field_ranges[kind]
        here_low, here_high = connection.ops.integer_field_range(kind)
        described["min"] = low if here_low is None else max(low, here_low)
        described["max"] = high if here_high is None else min(high, here_high)
    return described


class CannotHold(Exception):
    pass


def convert(given, field):
    """A value as the field holds it: a word from the command line, or a document's JSON value
    (whose strings are read as words are, except that a text field keeps the string `null`)."""
    word = "word" in given
    value = given["word"] if word else given["json"]
    if value is None or (value == "null" and field["null"] and (word or field["kind"] != "text")):
        if field["null"]:
            return None
        raise CannotHold()
    kind = field["kind"]
    if kind == "text":
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in TRUE + FALSE:
            return value.lower() in TRUE
        raise CannotHold()
    if isinstance(value, str) and INTEGER.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and field["min"] <= value <= field["max"]:
        return value
    raise CannotHold()


def typed(obj, vf, field):
    """The value as documents carry it: JSON of its type."""
    value = getattr(obj, vf)
    if value is None or (field["kind"] != "text" and isinstance(value, (bool, int))):
        return value
    return str(value)


def same(a, b):
    return type(a) is type(b) and a == b


try:
    Model = model()
    nf, vf = request["name_field"], request["value_field"]
    field = answer["field"] = describe(Model._meta.get_field(vf))
    if request["op"] == "field":
        pass
    elif request["op"] == "list":
        objects = Model.objects.all()
        if request["names"]:
            objects = objects.filter(**{nf + "__in": request["names"]})
        answer["flags"] = {getattr(o, nf): typed(o, vf, field) for o in objects}
        answer["unknown"] = [n for n in request["names"] if n not in answer["flags"]]
    else:
        dry = request["dry_run"]
        values = []
        for name, given in request["set"]:
            try:
                values.append((name, convert(given, field)))
            except CannotHold:
                answer.update(ok=False, cannot_hold=name)
                raise Refused()
        with transaction.atomic():
            names = [name for name, _ in values] + request["remove"]
            rows = Model.objects.filter(**{nf + "__in": names})
            existing = {getattr(o, nf): o for o in (rows if dry else rows.select_for_update())}
            missing = [name for name, _ in values if name not in existing]
            if missing and not request["create"]:
                answer.update(ok=False, unknown=missing)
                raise Refused()
            before, absent = {}, []
            for name, value in values:
                obj = existing.get(name)
                if obj is None:
                    obj = Model(**{nf: name})
                    absent.append(name)
                else:
                    before[name] = typed(obj, vf, field)
                setattr(obj, vf, value)
                obj.full_clean(validate_unique=False)
                if not dry:
                    obj.save()
                    obj.refresh_from_db()
                    if not same(getattr(obj, vf), value):
                        answer.update(ok=False, mismatch=name)
                        raise Refused()
            for name in request["remove"]:
                obj = existing.get(name)
                if obj is None:
                    continue
                before[name] = typed(obj, vf, field)
                if not dry:
                    obj.delete()
            answer.update(before=before, absent=absent)
except Refused:
    pass
except ValidationError as e:
    answer = {"ok": False, "invalid": {k: [str(m) for m in v] for k, v in e.message_dict.items()}}
print(json.dumps(answer))
