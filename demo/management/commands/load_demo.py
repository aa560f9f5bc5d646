from django.core.management.base import BaseCommand

from demo.services import DEMO_ACCOUNTS, load_demo, load_demo_submission


class Command(BaseCommand):
    help = "Build demo collections from pydicom's bundled samples and create one demo account per role."

    def handle(self, *args, **options):
        collections = load_demo()
        for c in collections:
            self.stdout.write(
                f"{c.title}: {c.subject_count} subjects, {c.study_count} studies, {c.series_count} series, "
                f"{c.image_count} images, {c.total_bytes:,} bytes"
            )
        incoming = load_demo_submission()
        self.stdout.write(f"{incoming.title} (in curation): {incoming.image_count} images received through intake")
        self.stdout.write(self.style.SUCCESS("Demo data loaded. Demo accounts (local use only):"))
        for username, password, role in DEMO_ACCOUNTS:
            self.stdout.write(f"  {role:<10} username {username:<10} password {password}")
