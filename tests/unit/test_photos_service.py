"""PhotoService on the in-memory store: a photo goes to the merchant's own live offer only, and
the files a new photo replaces stop being served unless another offer shows them, without a
database."""
import pytest

from dealsvc.adapters.images import PillowPhotos
from dealsvc.adapters.media_store import LocalMediaStore
from dealsvc.domain.errors import Conflict, NotFound
from dealsvc.services.auth import Principal
from dealsvc.services.photos import PhotoService
from tests.support.fakes import T0, Clock, MemoryStore
from tests.support.photos import phone_jpeg

BAKER, RIVAL = Principal("merchant", "mer_forno"), Principal("merchant", "mer_latte")


@pytest.fixture
def world(tmp_path):
    store, media = MemoryStore(), LocalMediaStore(tmp_path)
    for merchant in (BAKER, RIVAL):
        store.add_merchant(merchant.id)
    store.add_shop("shp_1", merchant_id=BAKER.id)
    store.add_offer("off_1", "shp_1", T0)
    store.add_offer("off_2", "shp_1", T0)
    return PhotoService(store, Clock(), PillowPhotos(), media), store, tmp_path


def test_a_photo_goes_to_the_merchants_own_live_offer_only(world):
    photos, store, folder = world
    with pytest.raises(NotFound):
        photos.attach(RIVAL, "off_1", phone_jpeg(), "image/jpeg")
    assert list(folder.iterdir()) == []  # refused before the picture was worked on
    store.tables.offers["off_2"].status = "cancelled"
    with pytest.raises(Conflict):
        photos.attach(BAKER, "off_2", phone_jpeg(), "image/jpeg")
    shown = photos.attach(BAKER, "off_1", phone_jpeg(), "image/jpeg")
    offer = store.tables.offers["off_1"]
    assert shown["thumbnail_url"] == f"/media/{offer.thumbnail}"
    assert photos.media(offer.photo) and photos.media(offer.thumbnail)


def test_a_replaced_photo_stops_being_served_unless_another_offer_shows_it(world):
    photos, store, _ = world
    first = photos.attach(BAKER, "off_1", phone_jpeg(size=(300, 200)), "image/jpeg")
    old = store.tables.offers["off_1"]
    old_photo, old_thumbnail = old.photo, old.thumbnail
    store.tables.offers["off_2"].thumbnail = old_thumbnail  # the same picture, shown by another offer
    photos.attach(BAKER, "off_1", phone_jpeg(size=(320, 200)), "image/jpeg")
    new = store.tables.offers["off_1"]
    assert (new.photo, new.thumbnail) != (old_photo, old_thumbnail) and first["image_url"] == f"/media/{old_photo}"
    assert photos.media(old_photo) is None and photos.media(old_thumbnail) is not None
    assert photos.media(new.photo) and photos.media(new.thumbnail)


class EndsWhileWorked(Clock):
    """The offer's end comes while the picture is being worked on: the first look sees T0, every
    later one the offer's end."""

    def __init__(self, end):
        super().__init__()
        self.looks, self.end = 0, end

    def __call__(self):
        self.looks += 1
        return self.now if self.looks == 1 else self.end


def test_a_photo_whose_offer_ended_while_it_was_worked_on_is_not_kept(world):
    photos, store, folder = world
    photos.clock = EndsWhileWorked(store.tables.offers["off_1"].expires_at)
    with pytest.raises(Conflict):
        photos.attach(BAKER, "off_1", phone_jpeg(), "image/jpeg")
    assert list(folder.iterdir()) == [] and store.tables.offers["off_1"].photo is None


def test_a_photo_kept_for_an_offer_not_made_is_dropped_unless_another_offer_shows_it(world):
    photos, store, folder = world
    lost, shared = photos.keep(phone_jpeg(size=(300, 200))), photos.keep(phone_jpeg(size=(320, 200)))
    store.tables.offers["off_2"].photo, store.tables.offers["off_2"].thumbnail = shared.large_name, shared.thumbnail_name
    photos.discard(lost)
    photos.discard(shared)
    photos.discard(None)
    assert sorted(p.name for p in folder.iterdir()) == sorted([shared.large_name, shared.thumbnail_name])


class Racing(LocalMediaStore):
    """Files on disk where another request's step runs at a chosen moment, once: just before
    this store's next delete, or just after its next put."""

    def __init__(self, root):
        super().__init__(root)
        self.before_delete = self.after_put = None

    def delete(self, name):
        if (step := self.before_delete) is not None:
            self.before_delete = None
            step()
        super().delete(name)

    def put(self, name, data):
        super().put(name, data)
        if (step := self.after_put) is not None:
            self.after_put = None
            step()


@pytest.fixture
def racing(world):
    photos, store, folder = world
    photos.files = Racing(folder)
    return photos, store


def test_a_picture_dropped_as_another_offer_is_given_it_stays_served_for_that_offer(racing):
    """The shopkeeper replaces off_1's bread photo while the same picture goes to off_2: the
    replaced files were found unused, then off_2 took them before they were deleted."""
    photos, store = racing
    bread = phone_jpeg(size=(300, 200))
    photos.attach(BAKER, "off_1", bread, "image/jpeg")
    photos.files.before_delete = lambda: photos.attach(BAKER, "off_2", bread, "image/jpeg")
    photos.attach(BAKER, "off_1", phone_jpeg(size=(320, 200)), "image/jpeg")
    other = store.tables.offers["off_2"]
    assert other.photo is not None and photos.media(other.photo) and photos.media(other.thumbnail)


def test_a_picture_given_to_an_offer_as_the_same_picture_is_dropped_stays_served(racing):
    """The same picture, kept for an offer that was then refused, is dropped while it goes to
    off_2: dropped after off_2's request wrote it, before off_2 named it."""
    photos, store = racing
    bread = phone_jpeg(size=(300, 200))
    refused = photos.keep(bread)
    photos.files.after_put = lambda: photos.discard(refused)
    photos.attach(BAKER, "off_2", bread, "image/jpeg")
    other = store.tables.offers["off_2"]
    assert other.photo == refused.large_name and photos.media(other.photo) and photos.media(other.thumbnail)


def test_a_picture_written_again_after_its_offer_took_another_is_dropped_again(world):
    """A request gave off_1 the bread photo; before it wrote the files again (settle), another
    request replaced off_1's photo and dropped bread's files: they do not come back to be served."""
    photos, store, _ = world
    bread = photos.keep(phone_jpeg(size=(300, 200)))
    offer = store.tables.offers["off_1"]
    offer.photo, offer.thumbnail = bread.large_name, bread.thumbnail_name  # the first request's commit
    photos.attach(BAKER, "off_1", phone_jpeg(size=(320, 200)), "image/jpeg")  # the second request
    assert photos.media(bread.large_name) is None
    photos.settle(bread)  # the first request, late
    assert photos.media(bread.large_name) is None and photos.media(bread.thumbnail_name) is None


def test_a_drop_that_fails_before_its_second_look_puts_back_what_it_deleted(world, monkeypatch):
    """The database fails between the delete and the look that would put a file back: the files
    come back, a file too many rather than an offer naming a missing one."""
    from tests.support.fakes import MemoryQueries

    photos, _, _ = world
    bread = photos.keep(phone_jpeg(size=(300, 200)))
    looks = []
    shown = MemoryQueries.photo_names_shown

    def failing_second_look(q, names):
        looks.append(names)
        if len(looks) == 2:
            raise ConnectionError("the database went away")
        return shown(q, names)

    monkeypatch.setattr(MemoryQueries, "photo_names_shown", failing_second_look)
    with pytest.raises(ConnectionError):
        photos.discard(bread)
    assert len(looks) == 2
    assert photos.media(bread.large_name) and photos.media(bread.thumbnail_name)
