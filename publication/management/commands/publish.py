"""manage.py publish SLUG [--metadata FILE.yaml] [--creator …] [--keyword …] [--notes …] [--minor]
[--preview] [--actor USERNAME]: publication metadata, its gate, then freeze a version and mint its DOIs."""
import json
import re
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from collections_app.models import Collection
from collections_app.services.publish import PublishBlocked
from doi.models import NameType
from doi.selectors import concept_doi, version_doi
from publication import metadata, services


def person(text: str, option: str) -> dict:
    """'Family, Given | ORCID | Affiliation' (a name without a comma is an organization)."""
    parts = [p.strip() for p in text.split("|")]
    name = parts[0]
    if not name:
        raise CommandError(f"{option} {text!r}: the name is missing ('Family, Given | ORCID | Affiliation').")
    family, comma, given = name.partition(",")
    row = {"name_type": NameType.PERSONAL if comma else NameType.ORGANIZATIONAL, "family": family.strip(),
           "given": given.strip(), "orcid": parts[1] if len(parts) > 1 else "",
           "affiliation": parts[2] if len(parts) > 2 else ""}
    return row


def related(text: str) -> dict:
    """'Relation | DOI, PMID or URL | citation text'."""
    parts = [p.strip() for p in text.split("|", 2)]
    if len(parts) < 3:
        raise CommandError(f"--related {text!r}: give 'Relation | DOI, PMID or URL | citation text'.")
    relation, ident, citation = parts
    row = {"relation": relation, "citation": citation, "doi": "", "pmid": "", "url": ""}
    if re.match(r"^\d+$", ident):
        row["pmid"] = ident
    elif ident.startswith(("http://", "https://")) and "doi.org/" not in ident:
        row["url"] = ident
    else:
        row["doi"] = ident
    return row


def load_file(path: str) -> dict:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{path}: cannot be read ({exc.strerror}).")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is reported with the file name
        raise CommandError(f"{path}: not valid {'JSON' if p.suffix.lower() == '.json' else 'YAML'}: {exc}")
    if not isinstance(data, dict):
        raise CommandError(f"{path}: expected a mapping of fields (summary, creators, keywords, …), got {type(data).__name__}.")
    unknown = set(data) - set(metadata.empty()) - {"major"}
    if unknown:
        raise CommandError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(metadata.empty()))}.")
    return data


class Command(BaseCommand):
    help = ("Publish a collection: publication metadata (from the current metadata, a YAML/JSON file and the options), "
            "its gate and the archive's gates, then freeze a new version and mint or update its DOIs.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--metadata", help="YAML (or .json) file with publication metadata; see publication/metadata.py.")
        parser.add_argument("--summary", help="Abstract (50–5000 characters).")
        parser.add_argument("--description", help="Longer description.")
        parser.add_argument("--license", help="License code, e.g. CC-BY-4.0.")
        parser.add_argument("--creator", action="append", default=[],
                            help="'Family, Given | ORCID | Affiliation' (repeat; replaces the creators).")
        parser.add_argument("--contributor", action="append", default=[],
                            help="'Role: Family, Given | ORCID | Affiliation', role a DataCite contributorType (repeat).")
        parser.add_argument("--keyword", action="append", default=[], help="A keyword (repeat; replaces the keywords).")
        parser.add_argument("--funding", action="append", default=[],
                            help="'Funder | funder identifier URL | award number | award title' (repeat).")
        parser.add_argument("--related", action="append", default=[],
                            help="'Relation | DOI, PMID or URL | citation text', e.g. IsDescribedBy (repeat).")
        parser.add_argument("--notes", help="Version notes: what changed since the previous version.")
        parser.add_argument("--minor", action="store_true", help="A minor version: no new version DOI, the concept DOI is updated.")
        parser.add_argument("--preview", action="store_true", help="Print the DataCite JSON that would be minted; publish nothing.")
        parser.add_argument("--actor", default="", help="Username recorded in the audit log.")

    def handle(self, slug, **o):
        try:
            collection = Collection.objects.get(slug=slug)
        except Collection.DoesNotExist:
            raise CommandError(f"No collection with slug {slug!r}.")
        user = None
        if o["actor"]:
            user = get_user_model().objects.filter(username=o["actor"]).first()
            if user is None:
                raise CommandError(f"No user {o['actor']!r}.")
        data = metadata.initial(collection)
        major = not o["minor"]
        if o["metadata"]:
            loaded = load_file(o["metadata"])
            major = bool(loaded.pop("major", major)) and not o["minor"]
            data.update(loaded)
        for key in ("summary", "description", "license", "notes"):
            if o[key] is not None:
                data[key] = o[key]
        if o["creator"]:
            data["creators"] = [person(t, "--creator") for t in o["creator"]]
        if o["contributor"]:
            rows = []
            for t in o["contributor"]:
                role, colon, rest = t.partition(":")
                if not colon:
                    raise CommandError(f"--contributor {t!r}: start with the role, e.g. 'DataCurator: Roe, Richard'.")
                rows.append({**person(rest, "--contributor"), "contributor_type": role.strip()})
            data["contributors"] = rows
        if o["keyword"]:
            data["keywords"] = o["keyword"]
        if o["funding"]:
            data["funding"] = [dict(zip(("funder_name", "funder_identifier", "award_number", "award_title"),
                                        [p.strip() for p in t.split("|")])) for t in o["funding"]]
        if o["related"]:
            data["related"] = [related(t) for t in o["related"]]
        data = metadata.normalize(data)
        if o["preview"]:
            problems = services.problems(collection, data)
            shown = services.preview(collection, data, major=major)
            self.stdout.write(json.dumps(shown.record, indent=2, ensure_ascii=False))
            for field, messages in problems.items():
                for m in messages:
                    self.stderr.write(f"  ✗ {field}: {m}")
            self.stdout.write(f"Preview of version {shown.version_number} (nothing was published).")
            return
        try:
            version = services.publish(collection, data, major=major, actor=user)
        except PublishBlocked as blocked:
            for failure in blocked.failures:
                self.stderr.write(f"  ✗ {failure.message}" + (f"  ({failure.url})" if failure.url else ""))
            raise CommandError(f"{collection.short_name} was not published: {len(blocked.failures)} gate(s) failed.")
        vdoi, cdoi = version_doi(version), concept_doi(collection)
        self.stdout.write(self.style.SUCCESS(
            f"Published {collection.short_name} version {version.number}: {version.image_count} images, "
            f"{version.total_bytes} bytes, manifest sha256 {version.manifest_sha256}"
        ))
        for label, d in (("version DOI", vdoi), ("concept DOI", cdoi)):
            if d:
                d.refresh_from_db()
                self.stdout.write(f"  {label}: https://doi.org/{d.doi} ({d.state}{'; error: ' + d.last_error if d.last_error else ''})")
