-- 65: how transitions are stamped (docs/lifecycle.md, "Transitions"): a
-- rollout's [started_at, ended_at) is the period its split was served and
-- is never rewritten; undoing a promotion stamps the end of the
-- post-promotion watch in its own column. (A piece of its own, after every
-- other column of rollout.rollouts, so that a fresh install and an upgraded
-- one have the same column order.)

ALTER TABLE rollout.rollouts ADD COLUMN watch_ended_at timestamptz;
