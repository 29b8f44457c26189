import json
import pytest
from shared.ids import fixture_id
from tests.helpers import Human, mcp_client

pytestmark = pytest.mark.usefixtures("seeded")

async def test_explore() -> None:
    human = Human()
    async with mcp_client("payments", "fred@acme", human=human) as client:
        tools = (await client.list_tools()).tools
        for t in tools:
            print(t.name, json.dumps(t.input_schema), t.annotations)
        r = await client.call_tool("list_payments", {"limit": 2})
        print(r.structured_content)
        r = await client.call_tool("get_charge", {"charge_id": fixture_id("ch", "acme/1")})
        print(r.structured_content)
        r = await client.call_tool("release_payment", {"payment_id": fixture_id("pay", "acme/4")})
        print(r.is_error, r.structured_content, r.content[0].text[:300])
        r = await client.call_tool("issue_refund", {"charge_id": fixture_id("ch", "acme/1"), "amount": "123.45"})
        print(r.is_error, r.structured_content, r.content[0].text[:300])
        r = await client.call_tool("issue_refund", {"charge_id": fixture_id("ch", "acme/1"), "amount": "2000"})
        print(r.is_error, r.structured_content, r.content[0].text[:300])
    print(human.questions)
