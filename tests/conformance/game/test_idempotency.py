"""A redelivered command id returns the first response and changes nothing."""

from __future__ import annotations

from game_support import PLAYERS, Table, command, find_seed, new_id, no_weak, rejected, triples


async def test_redelivered_commands(game) -> None:
    table = Table(game)
    create = command("create_room", "u1", {"name": "Ann"})
    first = await game.handle(create)
    assert await game.handle(create) == first
    table.observe(first)

    join = command("join_room", "u2", {"name": "Bob"})
    first = await game.handle(join)
    assert triples(first)[0][0] == "player_joined"
    assert await game.handle(join) == first  # not already_joined
    # a new id with the same content is a new command
    assert triples(await table.send("join_room", "u2", {"name": "Bob"})) == rejected(
        "already_joined", "join_room", "u2"
    )
    await table.ok("join_room", "u3", {"name": "Cat"})
    await table.ok("join_room", "u4", {"name": "Dan"})

    seed = find_seed(no_weak)
    start_id = new_id()
    started = await table.send("start_game", "u1", seed=seed, command_id=start_id)
    assert await table.send("start_game", "u1", seed=seed, command_id=start_id) == started

    p = table.awaited()
    assert p is not None
    before = await table.state(p)
    bad_id = new_id()
    bad = await table.send("declare", p, {"value": 9}, command_id=bad_id)
    assert triples(bad) == rejected("invalid_input", "declare", p)
    assert await table.send("declare", p, {"value": 9}, command_id=bad_id) == bad

    decl_id = new_id()
    declared = await game.handle(command("declare", p, {"value": 1}, command_id=decl_id))
    table.observe(declared)
    after = await table.state(p)
    assert after != before
    assert await game.handle(command("declare", p, {"value": 1}, command_id=decl_id)) == declared
    assert await table.state(p) == after
    assert after["awaiting"] == [table.awaited()]
    assert [q["declared"] for q in after["players"]].count(1) == 1

    # redelivering the state query gives the same (first) answer
    q = command("get_room_state", PLAYERS[0])
    assert await game.handle(q) == await game.handle(q)
