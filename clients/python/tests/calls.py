"""Every call of the client against a real recd, written once and run over
each transport (test_unix.py, test_http.py).

The daemon is one with a trained model and a ratings database whose
catalogue holds movies 1, 2 and 3 (a `recd synth` dataset, as the Rust
driver tests/it/python_client.rs starts it, or MovieLens); RECD_TEST_USER
names a user in the model (default ml:1). The tests run in order on one
daemon; they retrain, roll back and rate, and leave it serving the model
they trained, with no job running.
"""

import os
import tempfile
import threading
import time

import recd_client
from recd_client import (
    Busy,
    Client,
    RecdError,
    TrainFailed,
)
from recd_client import types as t

MODEL_USER = os.environ.get("RECD_TEST_USER", "ml:1")
NO_SUCH_MOVIE = 999_999


class Calls:
    """The shared tests; a subclass sets ``transport`` and ``connect()``."""

    transport = ""

    def connect(self) -> Client:
        raise NotImplementedError

    def setUp(self):
        self.client = self.connect()
        self.addCleanup(self.client.close)
        # Users of this run only, apart per transport and per process.
        self.app_user = f"py-{self.transport}-{os.getpid()}"

    def a_movie(self) -> int:
        return self.client.recommend(MODEL_USER, n=1).items[0].movie

    def assertCode(self, cls, code, call, *args, **kwargs):
        with self.assertRaises(cls) as caught:
            call(*args, **kwargs)
        self.assertIsInstance(caught.exception, RecdError)
        self.assertEqual(caught.exception.code, code)
        self.assertTrue(caught.exception.message)
        return caught.exception

    def job_state(self):
        """The newest job's state, or None before the first run."""
        try:
            return self.client.job_status().state
        except recd_client.UnknownJob:
            return None

    def wait_idle(self):
        """Wait until no job runs (one left going by a caller that left)."""
        deadline = time.monotonic() + 60
        while self.job_state() == "running":
            self.assertLess(time.monotonic(), deadline, "the job never ended")
            time.sleep(0.05)

    # Queries.

    def test_health_is_typed(self):
        h = self.client.health()
        self.assertIsInstance(h, t.Health)
        self.assertEqual(h.status, "ok")
        self.assertEqual(h.protocol_version, 1)
        self.assertIsInstance(h.model, t.ModelInfo)
        self.assertTrue(h.model.version)
        self.assertGreater(h.model.items, 0)

    def test_stats_is_typed(self):
        s = self.client.stats()
        self.assertIsInstance(s, t.Stats)
        self.assertIsInstance(s.connections, t.Connections)
        self.assertGreaterEqual(s.connections.total, 1)
        self.assertIsInstance(s.requests, t.Requests)
        self.assertIn("recommend", s.requests.by_method)
        self.assertIsInstance(s.database, t.DatabaseStats)
        self.assertTrue(s.database.available)
        self.assertGreater(s.database.catalogue, 0)

    def test_recommend_predict_similar_are_typed(self):
        rec = self.client.recommend(MODEL_USER, n=3)
        self.assertIsInstance(rec, t.Recommendation)
        self.assertEqual((rec.user, rec.strategy), (MODEL_USER, "model"))
        self.assertIsNone(rec.degraded)
        self.assertEqual(len(rec.items), 3)
        for item in rec.items:
            self.assertIsInstance(item, t.Item)
            self.assertIsInstance(item.movie, int)
            self.assertIsInstance(item.title, str)
            self.assertIsInstance(item.score, float)
        scores = [i.score for i in rec.items]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertEqual(len(self.client.recommend(MODEL_USER).items), 10)

        best = rec.items[0]
        p = self.client.predict(MODEL_USER, best.movie)
        self.assertIsInstance(p, t.Prediction)
        self.assertEqual((p.movie, p.title, p.model), (best.movie, best.title, rec.model))
        self.assertAlmostEqual(p.rating, best.score, places=3)

        sim = self.client.similar(best.movie, n=2)
        self.assertIsInstance(sim, t.SimilarMovies)
        self.assertEqual(sim.movie, best.movie)
        self.assertEqual(len(sim.items), 2)
        self.assertIsInstance(sim.items[0], t.SimilarItem)
        self.assertNotIn(best.movie, [i.movie for i in sim.items])
        self.assertLessEqual(sim.items[0].similarity, 1.0 + 1e-6)

    def test_call_reaches_any_method_by_name(self):
        self.assertEqual(self.client.call("health")["status"], "ok")
        check = self.client.call("retrain.check", min_ratings=1)
        self.assertEqual(check["threshold"], 1)

    # Ratings.

    def test_rate_then_unrate(self):
        movie = self.a_movie()
        r = self.client.rate(self.app_user, movie, 4)
        self.assertIsInstance(r, t.Rated)
        self.assertEqual((r.user, r.movie, r.rating), (self.app_user, movie, 4.0))
        again = self.client.rate(self.app_user, movie, 5)
        self.assertGreater(again.seq, r.seq)
        rec = self.client.recommend(self.app_user, n=20)
        self.assertNotEqual(rec.strategy, "popularity")
        self.assertNotIn(movie, [i.movie for i in rec.items])
        u = self.client.unrate(self.app_user, movie)
        self.assertIsInstance(u, t.Unrated)
        self.assertTrue(u.removed)
        self.assertFalse(self.client.unrate(self.app_user, movie).removed)
        self.assertEqual(self.client.recommend(self.app_user).strategy, "popularity")

    def test_import_a_ratings_file(self):
        user = f"{self.app_user}-import"
        lines = f"user,movie,rating\n{user},1,4\n{user},2,3\n{user},{NO_SUCH_MOVIE},5\n{user},3,9\n"
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write(lines)
        self.addCleanup(os.unlink, f.name)
        imp = self.client.import_file(f.name)
        self.assertIsInstance(imp, t.Imported)
        self.assertEqual(imp.name, os.path.basename(f.name))
        self.assertEqual(imp.bytes, len(lines))
        self.assertEqual((imp.accepted, imp.written, imp.rejected_count), (2, 2, 2))
        self.assertIsInstance(imp.rejected[0], t.RejectedLine)
        self.assertEqual(
            [(r.line, r.code) for r in imp.rejected],
            [(4, "unknown_movie"), (5, "invalid_rating")],
        )
        # Written: there is a rating to remove.
        self.assertTrue(self.client.unrate(user, 2).removed)
        # The same from memory, named or not.
        again = self.client.import_bytes(f"{user},1,5\n".encode(), name="one line")
        self.assertEqual((again.name, again.accepted), ("one line", 1))
        self.assertIsNone(self.client.import_bytes(b"").name)

    def test_forget_erases_a_user(self):
        movie = self.a_movie()
        user = f"{self.app_user}-forget"
        self.client.rate(user, movie, 3)
        f = self.client.forget(user)
        self.assertIsInstance(f, t.Forgotten)
        self.assertEqual((f.user, f.deleted), (user, 1))
        self.assertIsInstance(f.erasure, int)
        self.assertFalse(self.client.unrate(user, movie).removed)
        self.assertCode(recd_client.BaseDatasetUser, "base_dataset_user", self.client.forget, "ml:1")

    # Errors.

    def test_errors_carry_their_code(self):
        e = self.assertCode(recd_client.UnknownUser, "unknown_user", self.client.recommend, "ml:999999")
        self.assertIn("ml:999999", e.message)
        self.assertCode(recd_client.UnknownMovie, "unknown_movie", self.client.predict, MODEL_USER, NO_SUCH_MOVIE)
        self.assertCode(recd_client.UnknownMovie, "unknown_movie", self.client.similar, NO_SUCH_MOVIE)
        self.assertCode(recd_client.UnknownMovie, "unknown_movie", self.client.rate, self.app_user, NO_SUCH_MOVIE, 4)
        self.assertCode(recd_client.InvalidRating, "invalid_rating", self.client.rate, self.app_user, 1, 9)
        self.assertCode(recd_client.InvalidRating, "invalid_rating", self.client.rate, self.app_user, 1, 3.5)
        self.assertCode(recd_client.InvalidUser, "invalid_user", self.client.rate, "ml:5", 1, 4)
        self.assertCode(recd_client.InvalidUser, "invalid_user", self.client.recommend, "")
        self.assertCode(recd_client.InvalidParams, "invalid_params", self.client.recommend, MODEL_USER, n=0)
        self.assertCode(recd_client.InvalidParams, "invalid_params", self.client.retrain, no_such_param=1)
        e = self.assertCode(recd_client.UnknownMethod, "unknown_method", self.client.call, "no.such.method")
        self.assertIn("recommend", e.methods)
        e = self.assertCode(recd_client.UnknownVersion, "unknown_version", self.client.rollback, "no-such-version")
        self.assertTrue(e.versions)
        self.assertCode(recd_client.UnknownJob, "unknown_job", self.client.job_status, 10**9)
        self.assertCode(recd_client.UnknownJob, "unknown_job", self.client.job_cancel)
        # The client goes on after each of them.
        self.assertEqual(self.client.health().status, "ok")
        errors = self.client.stats().errors
        self.assertGreaterEqual(errors["unknown_user"], 1)

    # Training and models.

    def test_retrain_reports_progress_then_models_reload_rollback(self):
        self.wait_idle()
        before = self.client.health().model.version
        seen = []
        job = self.client.retrain(on_progress=seen.append, epochs=3, force=True)
        self.assertIsInstance(job, t.JobStatus)
        self.assertEqual((job.state, job.trigger), ("published", "manual"))
        self.assertEqual((job.epoch, job.n_epochs), (3, 3))
        self.assertTrue(seen)
        self.assertTrue(all(isinstance(p, t.Progress) and p.job == job.id for p in seen))
        epochs = [p.epoch for p in seen if p.epoch is not None]
        self.assertEqual(epochs[-1], 3)
        self.assertTrue(all(p.n_epochs == 3 for p in seen if p.epoch is not None))
        self.assertIn("finished", [p.state for p in seen])
        new = job.outcome["version"]
        self.assertEqual(self.client.health().model.version, new)

        status = self.client.job_status()
        self.assertEqual((status.id, status.state), (job.id, "published"))
        self.assertEqual(self.client.job_status(job.id).id, job.id)
        runs = self.client.history(limit=5).runs
        self.assertIsInstance(runs[0], t.Run)
        self.assertEqual((runs[0].id, runs[0].model_version), (job.id, new))
        self.assertEqual(len(self.client.history(limit=1, trigger="manual").runs), 1)

        check = self.client.retrain_check(min_ratings=1000)
        self.assertIsInstance(check, t.RetrainCheck)
        self.assertEqual((check.current_version, check.threshold), (new, 1000))
        self.assertFalse(check.retrain)

        models = self.client.models()
        self.assertIsInstance(models, t.Models)
        self.assertEqual((models.current, models.serving), (new, new))
        self.assertIsInstance(models.versions[0], t.ModelVersion)
        self.assertIn(before, [v.version for v in models.versions])

        reloaded = self.client.reload()
        self.assertIsInstance(reloaded, t.Reloaded)
        self.assertEqual((reloaded.version, reloaded.changed), (new, False))
        back = self.client.rollback(before)
        self.assertIsInstance(back, t.RolledBack)
        self.assertEqual((back.version, back.previous), (before, new))
        self.assertEqual(self.client.health().model.version, before)
        self.client.rollback(new)

    def test_busy_and_cancel(self):
        self.wait_idle()
        outcome = {}

        def long_retrain():
            with self.connect() as other:
                try:
                    outcome["result"] = other.retrain(epochs=10_000, factors=256, force=True)
                except Exception as e:  # noqa: BLE001 (checked below)
                    outcome["error"] = e

        thread = threading.Thread(target=long_retrain)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while self.job_state() != "running":
                self.assertLess(time.monotonic(), deadline, "the retrain never started")
                time.sleep(0.02)
            running = self.client.job_status()
            e = self.assertCode(Busy, "busy", self.client.retrain, epochs=1)
            self.assertEqual(e.job, running.id)
            self.assertEqual(self.client.health().job.id, running.id)
            cancelled = self.client.job_cancel()
            self.assertIsInstance(cancelled, t.JobCancelled)
            self.assertEqual((cancelled.job, cancelled.cancelled), (running.id, True))
        finally:
            thread.join(60)
        error = outcome.get("error")
        self.assertIsInstance(error, TrainFailed, outcome)
        self.assertEqual(error.code, "train_failed")
        self.assertIsInstance(error.job, t.JobStatus)
        self.assertEqual((error.job.id, error.job.state), (running.id, "cancelled"))
        self.assertEqual(self.client.job_status(running.id).state, "cancelled")

    def test_schedule_pause_and_resume(self):
        s = self.client.schedule(next=2)
        self.assertIsInstance(s, t.Schedule)
        self.assertIsInstance(s.paused, bool)
        self.assertIsInstance(s.next, list)
        paused = self.client.schedule_pause()
        self.assertIsInstance(paused, t.SchedulePaused)
        self.assertTrue(paused.paused)
        self.assertTrue(self.client.schedule().paused)
        resumed = self.client.schedule_resume()
        self.assertEqual((resumed.paused, resumed.changed), (False, True))
