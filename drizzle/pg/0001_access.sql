CREATE TABLE "bans" (
	"room" text NOT NULL,
	"user_id" text NOT NULL,
	"reason" text,
	"until" bigint,
	"created_at" bigint NOT NULL,
	CONSTRAINT "bans_room_user_id_pk" PRIMARY KEY("room","user_id")
);
--> statement-breakpoint
CREATE TABLE "room_settings" (
	"room" text PRIMARY KEY NOT NULL,
	"private" boolean DEFAULT false NOT NULL,
	"title" text
);
--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "user_id" text;