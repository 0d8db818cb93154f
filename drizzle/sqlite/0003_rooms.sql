CREATE TABLE `rooms` (
	`room` text PRIMARY KEY NOT NULL,
	`last_id` integer NOT NULL,
	`last_message_at` integer NOT NULL,
	`messages` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `rooms_last_id` ON `rooms` (`last_id`);--> statement-breakpoint
-- Backfill (hand-written): a database upgraded in place lists the rooms it already has.
INSERT INTO `rooms` (`room`, `last_id`, `last_message_at`, `messages`) SELECT `room`, max(`id`), max(`timestamp`), count(*) FROM `messages` GROUP BY `room`;
