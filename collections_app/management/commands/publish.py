"""manage.py publish SLUG --notes "…" [--minor] [--actor USERNAME]: freeze a version and mint/update its DOIs."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from collections_app.models import Collection
from collections_app.services.publish import PublishBlocked, publish


class Command(BaseCommand):
    help = "Publish a collection: check the gates, freeze a new version (manifest of file hashes), mint or update its DOIs."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--notes", default="", help="Release notes: what changed since the previous version.")
        parser.add_argument("--minor", action="store_true", help="A minor version: no new version DOI, the concept DOI is updated.")
        parser.add_argument("--actor", default="", help="Username recorded in the audit log.")

    def handle(self, slug, notes, minor, actor, **options):
        try:
            collection = Collection.objects.get(slug=slug)
        except Collection.DoesNotExist:
            raise CommandError(f"No collection with slug {slug!r}.")
        user = None
        if actor:
            user = get_user_model().objects.filter(username=actor).first()
            if user is None:
                raise CommandError(f"No user {actor!r}.")
        try:
            version = publish(collection, actor=user, notes=notes, major=not minor)
        except PublishBlocked as blocked:
            for failure in blocked.failures:
                self.stderr.write(f"  ✗ {failure.message}" + (f"  ({failure.url})" if failure.url else ""))
            raise CommandError(f"{collection.short_name} was not published: {len(blocked.failures)} gate(s) failed.")
        from doi.selectors import concept_doi, version_doi

        vdoi, cdoi = version_doi(version), concept_doi(collection)
        self.stdout.write(self.style.SUCCESS(
            f"Published {collection.short_name} version {version.number}: {version.image_count} images, "
            f"{version.total_bytes} bytes, manifest sha256 {version.manifest_sha256}"
        ))
        for label, d in (("version DOI", vdoi), ("concept DOI", cdoi)):
            if d:
                self.stdout.write(f"  {label}: https://doi.org/{d.doi} ({d.state}{'; error: ' + d.last_error if d.last_error else ''})")
