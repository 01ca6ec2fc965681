"""The service directory names regions by ISO 3166-2 code and finds them in any spelling."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from avrr_reintegration.directory import Organisation, load_directory


def test_a_region_is_found_however_it_is_spelled() -> None:
    directory = load_directory()
    minas = ["br-mg-reintegration-ngo", "br-mg-psychosocial-centre"]
    for spelling in ("MG", "mg", "BR-MG", "Minas Gerais", " minas  GERAIS "):
        assert [o.id for o in directory.search(country="BR", region=spelling)] == minas
    assert [o.id for o in directory.search(region="Cortés")] == ["hn-cor-returnee-centre"]
    assert [o.id for o in directory.search(region="cortes")] == ["hn-cor-returnee-centre"]
    assert directory.search(country="BR", region="Cortés") == []


def test_every_region_of_the_directory_is_an_iso_3166_2_code_of_its_country() -> None:
    organisation = {
        "id": "x",
        "name": "X",
        "programmes": ["arvore"],
        "country": "GT",
        "services": ["social"],
    }
    assert Organisation.model_validate({**organisation, "region": "01"}).region == "01"
    for wrong in ("GU", "Guatemala", "GT-01", "MG"):
        with pytest.raises(ValidationError, match="ISO 3166-2"):
            Organisation.model_validate({**organisation, "region": wrong})
