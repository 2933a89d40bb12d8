import importlib
import types

import pytest


@pytest.mark.parametrize(
    "package",
    [
        "oms_chain.model",
        "oms_chain.risk",
        "oms_chain.risk.pricing",
        "oms_chain.routing",
        "oms_chain.venues",
        "oms_chain.engine",
        "oms_chain.custody",
        "oms_chain.custody.safe",
        "oms_chain.custody.threshold",
        "oms_chain.compliance",
        "oms_chain.service.api",
        "oms_chain.venues.options",
        "oms_chain.treasury",
    ],
)
def test_every_exported_name_exists_and_every_public_name_is_exported(package):
    mod = importlib.import_module(package)
    assert mod.__all__ == sorted(mod.__all__, key=lambda n: (not n.isupper(), n))
    for name in mod.__all__:
        assert hasattr(mod, name), f"{package}.{name} listed in __all__ but missing"
        assert not name.startswith("_")
    assert len(set(mod.__all__)) == len(mod.__all__)
    public = {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(mod.__all__) == set(), f"{package} binds public names not in __all__"


def test_model_keeps_the_error_tree_rooted_at_oms_error():
    from oms_chain import model

    for name in model.__all__:
        obj = getattr(model, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, model.OmsError), name
    assert issubclass(model.InvalidIntent, ValueError)
    assert issubclass(model.VenueTimeout, model.RetryableError)
    assert issubclass(model.VenueRejected, model.FinalError)


def test_the_conformance_suites_and_capabilities_are_public():
    from oms_chain import custody, testing, venues
    from oms_chain.testing import signer, venue

    assert {"SignerConformance", "VenueConformance"} <= set(testing.__all__)
    assert testing.VenueConformance is venue.VenueConformance
    assert testing.SignerConformance is signer.SignerConformance
    for mod in (testing, venue, signer):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"
    assert set(venue.__all__) == {"VenueConformance", "conformance_order", "settled"}
    assert set(signer.__all__) == {"SignerConformance"}
    assert {
        "BoundedAcceptance",
        "DeclaresCapabilities",
        "ListsInstruments",
        "QuantityGrid",
        "SendBudget",
        "SpendableInventory",
        "VenueCapabilities",
    } <= set(venues.__all__)
    assert "SignerCapabilities" in custody.__all__
