from parking_hub.cli import main

if __name__ == "__main__":
    main()
