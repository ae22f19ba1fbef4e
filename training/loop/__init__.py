"""The owner's half of the loop: from photos visitors flagged back to a better model.

- ``feedback pull`` (:mod:`.pull`, :mod:`.feedback_sources`, :mod:`.inbox`): new flagged
  photos from the feedback store into ``INBOX/<claimed label>/``, checked and never twice;
- ``feedback review`` (:mod:`.review_page`): each inbox photo beside the model's answer and
  the nearest training photos of both classes;
- ``suggest`` (:mod:`.suggestions`): which unlabelled photos would teach the model most;
- ``compare`` (:mod:`.run_photos`, :mod:`.comparison`): what changed between two runs, on
  the photos both held out, and whether it is more than noise.

Nothing here moves or deletes a user's photo: the owner decides what goes into the data.
"""
