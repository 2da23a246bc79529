"""Offers' photos: made ready (upright, no metadata, a large version and a thumbnail), kept in
the media store under their content's names, and given to an offer."""
from __future__ import annotations

from typing import Any, Protocol

from ..domain import merchants as merchant_rules
from ..domain import offers as rules_of_offers
from ..domain import photos
from ..domain.clock import Clock
from ..domain.errors import NotFound
from ..domain.i18n import Text
from .auth import Principal
from .merchants import merchant_standing
from .offers import offer_view
from .ports import Transactions


class PhotoQueries(Protocol):
    """What PhotoService and drop_unused need of the database (SQL: the offers queries of the database adapter)."""

    def merchants_offer(self, merchant_id: str, offer_id: str, *, lock: bool = False) -> Any | None: ...
    def photo_names_shown(self, names: set[str]) -> set[str]: ...


class PhotoService:
    def __init__(self, store: Transactions[PhotoQueries], clock: Clock, processor: photos.PhotoProcessor,
                 files: photos.MediaStore):
        self.store = store
        self.clock = clock
        self.processor = processor
        self.files = files  # the media store

    def keep(self, data: bytes, content_type: str | None = None) -> photos.Photo:
        """The photo made ready and kept (both files), for an offer to name; NotAPhoto (400)
        when it is not one, UnsupportedPhotoType (415) for a type other than ACCEPTED_TYPES."""
        if content_type is not None and content_type.split(";")[0].strip().lower() not in photos.ACCEPTED_TYPES:
            raise photos.UnsupportedPhotoType()
        photo = self.processor.prepare(data)
        self.files.put(photo.large_name, photo.large)
        self.files.put(photo.thumbnail_name, photo.thumbnail)
        return photo

    def _check(self, q: PhotoQueries, merchant: Principal, offer_id: str, *, lock: bool = False):
        standing = merchant_standing(q, merchant.id, hold=lock)
        offer = q.merchants_offer(merchant.id, offer_id, lock=lock)
        if offer is None:
            raise NotFound(Text("No such offer."))
        merchant_rules.check_may_change_offer(standing, {"photo": True})
        rules_of_offers.check_changeable(rules_of_offers.effective_status(offer.status, offer.expires_at, self.clock()))
        return offer

    def attach(self, merchant: Principal, offer_id: str, data: bytes, content_type: str | None) -> dict[str, Any]:
        """Give the merchant's offer this photo (replacing any): 404 unless the caller's, 409
        once it has ended, 403 when suspended; checked before the picture is worked on. Pushes
        sent before keep no picture; those sent after show it."""
        with self.store.read() as q:
            self._check(q, merchant, offer_id)
        photo = self.keep(data, content_type)
        try:
            with self.store.write() as q:
                # Checked again: the offer may have ended, or its merchant been suspended, meanwhile.
                offer = self._check(q, merchant, offer_id, lock=True)
                replaced = {offer.photo, offer.thumbnail} - {None, photo.large_name, photo.thumbnail_name}
                offer.photo, offer.thumbnail = photo.large_name, photo.thumbnail_name
                offer.updated_at = self.clock()
                view = offer_view(offer, self.clock())
        except BaseException:
            self.discard(photo)
            raise
        self.settle(photo, replaced)
        return view

    def settle(self, photo: photos.Photo | None, replaced: set[str] = frozenset()) -> None:
        """Once an offer naming the photo is committed: its files are there. Another request
        dropping the same picture (files are named by their content) may have found it unused
        and deleted it before that commit; it is written again then, and dropped again if by now
        no offer shows it (replaced or erased meanwhile), in the same look as the files the new
        photo `replaced`."""
        names = set(replaced)
        if photo is not None:
            self.files.put(photo.large_name, photo.large)
            self.files.put(photo.thumbnail_name, photo.thumbnail)
            names |= {photo.large_name, photo.thumbnail_name}
        drop_unused(self.store, self.files, names)

    def discard(self, photo: photos.Photo | None) -> None:
        """A photo kept for an offer that did not take it (the offer refused, or not made): its
        files go, unless an offer shows them (the same picture, named by its content)."""
        if photo is not None:
            drop_unused(self.store, self.files, {photo.large_name, photo.thumbnail_name})

    def media(self, name: str) -> bytes | None:
        """A kept file by name; None for any other name."""
        return self.files.get(name) if photos.is_media_name(name) else None


# How many times drop_unused looks again at files it put back: each time needs another request
# to have changed which offers show the very same picture in between.
_LOOKS = 4


def drop_unused(store: Transactions[PhotoQueries], media: photos.MediaStore, names: set[str]) -> None:
    """Files no offer shows any more stop being served (a photo replaced, or erased with its
    merchant, may show what its owner wanted gone); one another offer shows (files are named by
    their content) stays.

    Another request may be giving the same picture to an offer meanwhile, without a lock shared
    with this one: a file deleted here and shown by an offer committed after the first look is
    put back (its bytes read before the delete; all of them if the second look fails), and an
    offer committed before that delete writes its files again itself (PhotoService.settle). So
    every offer's files end up served, and a file put back is looked at again, until nothing
    changes under this look."""
    for _ in range(_LOOKS):
        if not names:
            return
        with store.read() as q:
            unused = names - q.photo_names_shown(names)
        deleted: dict[str, bytes] = {}
        try:
            for name in unused:
                data = media.get(name)
                if data is not None:  # none: nothing to delete (one written after this look is not ours)
                    deleted[name] = data
                    media.delete(name)
            if not deleted:
                return
            with store.read() as q:
                names = q.photo_names_shown(set(deleted))
        except BaseException:
            for name, data in deleted.items():  # a file too many rather than an offer without its own
                media.put(name, data)
            raise
        for name in names:
            media.put(name, deleted[name])
