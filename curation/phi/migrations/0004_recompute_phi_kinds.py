"""Issue 17: the likely-PHI heuristics no longer flag times as IDs or device names as names.
Recompute phi_kinds / likely_phi of the stored values with the current heuristic, and the
facet counts that depend on likely_phi."""
from collections import Counter

from django.db import migrations


def recompute(apps, schema_editor):
    from curation.phi.report import phi_kinds

    PhiValue = apps.get_model("phi", "PhiValue")
    PhiFacet = apps.get_model("phi", "PhiFacet")
    changed = []
    for v in PhiValue.objects.filter(own_uid=False).only("id", "keyword", "vr", "value", "phi_kinds", "likely_phi").iterator(
            chunk_size=5000):
        kinds = ",".join(phi_kinds(v.keyword, v.vr, v.value))
        if kinds != v.phi_kinds or bool(kinds) != v.likely_phi:
            v.phi_kinds, v.likely_phi = kinds, bool(kinds)
            changed.append(v)
        if len(changed) >= 2000:
            PhiValue.objects.bulk_update(changed, ["phi_kinds", "likely_phi"])
            changed = []
    if changed:
        PhiValue.objects.bulk_update(changed, ["phi_kinds", "likely_phi"])
    counts = Counter()
    for row in PhiValue.objects.filter(present=True).values_list("collection_id", "vr", "is_private", "likely_phi", "own_uid"):
        counts[row] += 1
    PhiFacet.objects.all().delete()
    PhiFacet.objects.bulk_create([PhiFacet(collection_id=c, vr=vr, is_private=p, likely_phi=lk, own_uid=own, values=n)
                                  for (c, vr, p, lk, own), n in counts.items()], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [("phi", "0003_pending")]
    operations = [migrations.RunPython(recompute, migrations.RunPython.noop)]
