from tests.conftest import Herald


def test_create_and_fetch_with_official_client(herald: Herald) -> None:
    account = herald.account()
    client = herald.client(account)
    number = client.incoming_phone_numbers.create(phone_number="+14155550100")
    assert number.phone_number == "+14155550100"
    message = client.messages.create(to="+14155550111", from_="+14155550100", body="hi")
    assert message.status == "queued"
    fetched = client.messages(message.sid).fetch()
    assert fetched.body == "hi"
    assert fetched.num_segments == "1"
