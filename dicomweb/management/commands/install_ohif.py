"""`manage.py install_ohif [--force]`: fetch the pinned OHIF viewer with npm and unpack it for /viewer/."""
from django.core.management.base import BaseCommand, CommandError

from dicomweb import viewer


class Command(BaseCommand):
    help = f"Install OHIF's prebuilt viewer ({viewer.PACKAGE}@{viewer.OHIF_VERSION}) under TCIA_OHIF_ROOT; skipped when present."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Download and unpack again even if installed.")

    def handle(self, *args, force=False, **options):
        try:
            done = viewer.install(force=force, log=self.stdout.write)
        except viewer.InstallError as exc:
            raise CommandError(str(exc)) from exc
        if not done:
            self.stdout.write(f"OHIF {viewer.OHIF_VERSION} is already installed in {viewer.root()}")
